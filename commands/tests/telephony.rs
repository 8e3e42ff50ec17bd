//! Telephony in the service on every backend: routing from the tenant's configuration, seat
//! occupancy from the agents' streams, and a queue's state at any instant (issue 6's time travel
//! for calls).

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::service::ServiceError;
use hotline_commands::Hotline;
use hotline_domain::agent::AgentError;
use hotline_domain::call::{CallAction, CallCommand, CallKey, OfferCall};
use hotline_domain::telephony::{Extension, QueueConfig, QueueId, SeatId, TelephonyCommand};
use hotline_domain::values::{PhoneNumber, TenantId, UserId};
use std::sync::Arc;
use support::TestStore;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap()
}

fn ctx(actor: &str, at: DateTime<Utc>) -> CommandContext {
    CommandContext::new(actor, "test", at)
}

async fn setup(t: &TestStore) -> Hotline {
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    let tenant = TenantId("tj01".into());
    for command in [
        TelephonyCommand::ConfigureQueue(QueueConfig::new(QueueId("repair".into()), "报修专线")),
        TelephonyCommand::RouteNumber { dialled: PhoneNumber("96069".into()), queue: QueueId("repair".into()) },
        TelephonyCommand::DefineSeat { seat: SeatId("s1".into()), name_zh: "一号坐席".into() },
        TelephonyCommand::BindPhone { seat: SeatId("s1".into()), extension: Extension("8001".into()) },
    ] {
        hotline.configure_telephony(&ctx("admin", t0()), &tenant, &command).await.unwrap();
    }
    hotline
}

async fn offer(hotline: &Hotline, call_id: &str, at: DateTime<Utc>) -> CallKey {
    let tenant = TenantId("tj01".into());
    let (caller, dialled) = (PhoneNumber("13812345678".into()), PhoneNumber("96069".into()));
    let routing = hotline.telephony_config(&tenant).await.unwrap().route(&caller, &dialled);
    let key = CallKey::of(&tenant, call_id, None);
    let command = CallCommand {
        at,
        action: CallAction::Offer(OfferCall {
            call_id: call_id.into(),
            tenant: tenant.clone(),
            caller,
            dialled,
            correlation: None,
            routing,
        }),
    };
    hotline.call(&ctx("system:sip", at), &tenant, key, &command).await.unwrap();
    key
}

async fn act(hotline: &Hotline, key: CallKey, at: DateTime<Utc>, action: CallAction) {
    let tenant = TenantId("tj01".into());
    hotline.call(&ctx("system:sip", at), &tenant, key, &CallCommand { at, action }).await.unwrap();
}

async fn one_agent_per_seat_and_the_ringing_seat_names_its_agent(t: TestStore) {
    let hotline = setup(&t).await;
    let (tenant, seat) = (TenantId("tj01".into()), SeatId("s1".into()));
    assert_eq!(hotline.seat_occupant(&tenant, &seat).await.unwrap(), None);
    hotline.sign_in(&ctx("agent1", t0()), &UserId("agent1".into()), &tenant, &seat).await.unwrap();
    let taken = hotline.sign_in(&ctx("agent2", t0()), &UserId("agent2".into()), &tenant, &seat).await;
    assert!(matches!(taken, Err(ServiceError::Agent(AgentError::SeatOccupied { .. }))), "{taken:?}");
    let unknown = hotline.sign_in(&ctx("agent2", t0()), &UserId("agent2".into()), &tenant, &SeatId("s9".into())).await;
    assert!(matches!(unknown, Err(ServiceError::Agent(AgentError::UnknownSeat { .. }))), "{unknown:?}");
    assert_eq!(
        hotline.seat_of_extension(&tenant, &Extension("8001".into())).await.unwrap(),
        (Some(seat.clone()), Some(UserId("agent1".into())))
    );
    hotline.sign_out(&ctx("agent1", t0()), &UserId("agent1".into()), &tenant).await.unwrap();
    assert_eq!(hotline.seat_occupant(&tenant, &seat).await.unwrap(), None, "signed out frees the seat");
    hotline.sign_in(&ctx("agent2", t0()), &UserId("agent2".into()), &tenant, &seat).await.unwrap();
    assert_eq!(hotline.seat_occupant(&tenant, &seat).await.unwrap(), Some(UserId("agent2".into())));
}

async fn a_queue_at_any_instant(t: TestStore) {
    let hotline = setup(&t).await;
    let s = Duration::seconds;
    let first = offer(&hotline, "c1", t0()).await;
    let second = offer(&hotline, "c2", t0() + s(10)).await;
    let third = offer(&hotline, "c3", t0() + s(20)).await;
    let ext = || Extension("8001".into());
    act(&hotline, first, t0() + s(5), CallAction::Ring { extension: ext(), seat: None, agent: None }).await;
    act(&hotline, first, t0() + s(15), CallAction::Answer { extension: ext(), seat: None, agent: None }).await;
    act(&hotline, second, t0() + s(30), CallAction::Abandon).await;
    act(&hotline, first, t0() + s(60), CallAction::End { by: hotline_domain::call::Party::Caller }).await;
    let (tenant, queue) = (TenantId("tj01".into()), QueueId("repair".into()));

    let at = |secs| hotline.queue_at(&tenant, &queue, t0() + s(secs));
    let early = at(7).await.unwrap();
    assert_eq!(early.waiting.len(), 1);
    assert_eq!(early.waiting[0].status.code(), "ringing");
    let busy = at(25).await.unwrap();
    let waiting: Vec<&str> = busy.waiting.iter().map(|c| c.status.code()).collect();
    assert_eq!(waiting, ["offered", "offered"], "c2 and c3, longest waiting first");
    assert_eq!(busy.waiting[0].offered_at, Some(t0() + s(10)));
    assert_eq!(busy.talking.len(), 1);
    let late = at(61).await.unwrap();
    assert_eq!((late.waiting.len(), late.talking.len()), (1, 0), "only c3 still waits");
    assert_eq!(late.finished.get("abandoned"), Some(&1));
    assert_eq!(late.finished.get("ended"), Some(&1));
    let _ = third;
    assert!(hotline.queue_at(&tenant, &QueueId("other".into()), t0() + s(25)).await.unwrap().waiting.is_empty());
}

on_every_backend!(one_agent_per_seat_and_the_ringing_seat_names_its_agent, a_queue_at_any_instant);
