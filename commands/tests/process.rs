//! Process managers on every backend: deadline breaches fire once and never on replay; callback
//! reminders; granted approvals take effect by themselves, or record why they could not.

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::process::{ApprovalApplier, Follower, PhoneTimers, TicketTimers};
use hotline_commands::store::StreamId;
use hotline_commands::Hotline;
use hotline_domain::approval::{ApprovalAction, ApprovalLevel, GatedOperation};
use hotline_domain::organisation::Role;
use hotline_domain::ticket::{NewTicket, Source, TicketAction, TicketType, Urgency};
use hotline_domain::values::{ApprovalId, GeoPoint, TenantId, TicketId, UnitCode, UserId};
use std::sync::Arc;
use support::TestStore;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

async fn setup(t: &TestStore) -> (Hotline, TicketId) {
    t.clock.set(t0());
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    support::small_organisation(&hotline, t0()).await;
    let ticket_id = TicketId(Uuid::now_v7());
    let new = NewTicket {
        ticket_id,
        ticket_no: String::new(),
        tenant: TenantId("tj01".into()),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Urgent,
        source: Source::Phone,
        customer_id: None,
        caller_phone: None,
        address: "幸福里".into(),
        description: "不热".into(),
        deadline_override: None,
    };
    hotline.create_ticket(&CommandContext::new("agent1", "test", t0()), new).await.unwrap();
    (hotline, ticket_id)
}

async fn types(t: &TestStore, ticket_id: TicketId) -> Vec<String> {
    let stream = t.store.read_stream(&StreamId::new("ticket", ticket_id), 1).await.unwrap();
    stream.iter().map(|e| e.event_type.clone()).collect()
}

async fn deadline_breach_fires_once_and_never_on_replay(t: TestStore) {
    let (hotline, ticket_id) = setup(&t).await;
    let mut timers = Follower::new(hotline.clone(), TicketTimers::default());
    assert_eq!(timers.step().await.unwrap(), 0, "nothing is due yet");
    assert_eq!(timers.manager().next_deadline(), Some(t0() + Duration::hours(8)));

    t.clock.set(t0() + Duration::hours(8) + Duration::minutes(1));
    assert_eq!(timers.step().await.unwrap(), 1);
    assert_eq!(
        types(&t, ticket_id).await,
        ["TicketCreated", "TicketDeadlineBreached", "TicketUrgencyRaised", "TicketSupervised"]
    );
    let stream = t.store.read_stream(&StreamId::new("ticket", ticket_id), 1).await.unwrap();
    let meta = stream[1].meta().unwrap();
    assert_eq!((meta.source.as_str(), meta.actor.as_str()), ("timer", "system:ticket-timers"));
    assert_eq!(meta.causation_id, Some(stream[0].event_id), "caused by the event that set the deadline");
    assert_eq!(timers.step().await.unwrap(), 0, "fired once");

    // A new follower replays the log from position 0 and fires nothing.
    let head = t.store.head().await.unwrap();
    let mut replayed = Follower::new(hotline, TicketTimers::default());
    t.clock.advance(Duration::days(2));
    assert_eq!(replayed.step().await.unwrap(), 0);
    assert_eq!(t.store.head().await.unwrap(), head, "replay appended nothing");
    assert_eq!(replayed.manager().next_deadline(), None);
}

async fn callback_reminder_fires_a_day_after_completion(t: TestStore) {
    let (hotline, ticket_id) = setup(&t).await;
    let ctx = |actor: &str| CommandContext::new(actor, "test", t0());
    let steps: Vec<(&str, hotline_domain::ticket::TicketRequest)> = vec![
        ("agent1", TicketAction::Dispatch { station: UnitCode("st01".into()), note: String::new(), approval: None }),
        ("lead", TicketAction::Accept { station: UnitCode("st01".into()), worker: Some(UserId("w1".into())) }),
        ("w1", TicketAction::CheckIn { location: GeoPoint { latitude: 39.0, longitude: 117.0, accuracy_m: 5.0 } }),
        ("w1", TicketAction::RecordResult { result: "修好".into(), parts: vec![], duration_minutes: 10 }),
        ("w1", TicketAction::CompleteWork),
    ];
    for (actor, action) in steps {
        hotline.ticket(&ctx(actor), ticket_id, action).await.unwrap();
    }
    let mut timers = Follower::new(hotline.clone(), TicketTimers::default());
    timers.step().await.unwrap();
    assert_eq!(timers.manager().next_callback_reminder(), Some(t0() + Duration::hours(24)));
    t.clock.set(t0() + Duration::hours(7));
    assert_eq!(timers.step().await.unwrap(), 0);
    t.clock.set(t0() + Duration::hours(24));
    // The deadline (8 h) passed too: both timers fire.
    assert_eq!(timers.step().await.unwrap(), 2);
    assert!(types(&t, ticket_id).await.contains(&"CallbackReminderIssued".to_owned()));
    assert_eq!(timers.step().await.unwrap(), 0, "one reminder per completion");
}

async fn granted_approval_takes_effect_by_itself_or_records_why_not(t: TestStore) {
    let (hotline, ticket_id) = setup(&t).await;
    let ctx = |actor: &str| CommandContext::new(actor, "test", t0() + Duration::hours(1));
    let delay = ApprovalId(Uuid::now_v7());
    let details = serde_json::json!({ "new_deadline": "2026-11-25T09:00:00Z" });
    hotline.request_approval(&ctx("lead"), delay, ticket_id, GatedOperation::Delay, "等待配件", details).await.unwrap();
    // The ticket has no station yet: the subsidiary's supervisor decides the station level.
    let approve = ApprovalAction::Approve {
        level: ApprovalLevel::Station,
        approver: support::approver(Role::Supervisor),
        comment: String::new(),
    };
    hotline.decide_approval(&ctx("boss"), delay, approve.clone()).await.unwrap();
    // A delay without a new deadline cannot take effect: the approval says so.
    let broken = ApprovalId(Uuid::now_v7());
    hotline
        .request_approval(&ctx("lead"), broken, ticket_id, GatedOperation::Delay, "缺信息", serde_json::json!({}))
        .await
        .unwrap();
    hotline.decide_approval(&ctx("boss"), broken, approve).await.unwrap();

    let mut applier = Follower::new(hotline.clone(), ApprovalApplier::default());
    assert_eq!(applier.step().await.unwrap(), 1);
    let stream = t.store.read_stream(&StreamId::new("ticket", ticket_id), 1).await.unwrap();
    let extended = stream.iter().find(|e| e.event_type == "TicketDeadlineExtended").expect("the delay took effect");
    assert_eq!(extended.payload["to"], "2026-11-25T09:00:00Z");
    assert_eq!(extended.meta().unwrap().actor, "system:approval-applier");
    let approval = t.store.read_stream(&StreamId::new("approval", broken), 1).await.unwrap();
    let failed = approval.last().unwrap();
    assert_eq!(
        (failed.event_type.as_str(), failed.payload["rule"].as_str()),
        ("ApprovalApplicationFailed", Some("InvalidApprovalDetails"))
    );

    let head = t.store.head().await.unwrap();
    let mut replayed = Follower::new(hotline, ApprovalApplier::default());
    assert_eq!(replayed.step().await.unwrap(), 0);
    assert!(replayed.manager().pending().is_empty());
    assert_eq!(t.store.head().await.unwrap(), head, "replay appended nothing");
}

/// A REGISTER that is not refreshed goes offline at its expiry, once; a refreshed one does not.
async fn unrefreshed_registrations_expire_once(t: TestStore) {
    use hotline_domain::phone::{PhoneCommand, PhoneKey};
    use hotline_domain::telephony::Extension;
    t.clock.set(t0());
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    let key = |ext: &str| PhoneKey { tenant: TenantId("tj01".into()), extension: Extension(ext.into()) };
    for ext in ["8001", "8002"] {
        let register = PhoneCommand::Register {
            tenant: TenantId("tj01".into()),
            extension: Extension(ext.into()),
            contact: format!("sip:{ext}@10.0.0.5"),
            expires_seconds: 60,
            at: t0(),
        };
        hotline.phone(&CommandContext::new("system:sip", "sip", t0()), &key(ext), &register).await.unwrap();
    }
    let mut timers = Follower::new(hotline.clone(), PhoneTimers::default());
    assert_eq!(timers.step().await.unwrap(), 0, "not expired yet");
    t.clock.set(t0() + Duration::seconds(50));
    let refresh = PhoneCommand::Register {
        tenant: TenantId("tj01".into()),
        extension: Extension("8002".into()),
        contact: "sip:8002@10.0.0.5".into(),
        expires_seconds: 60,
        at: t0() + Duration::seconds(50),
    };
    hotline.phone(&CommandContext::new("system:sip", "sip", t0()), &key("8002"), &refresh).await.unwrap();
    t.clock.set(t0() + Duration::seconds(61));
    assert_eq!(timers.step().await.unwrap(), 1, "8001 expired, 8002 was refreshed");
    let types: Vec<String> = t
        .store
        .read_stream(&StreamId::parse("phone-tj01-8001").unwrap(), 1)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["PhoneRegistered", "PhoneRegistrationExpired"]);
    let head = t.store.head().await.unwrap();
    let mut replayed = Follower::new(hotline, PhoneTimers::default());
    assert_eq!(replayed.step().await.unwrap(), 0, "replay fires nothing");
    assert_eq!(t.store.head().await.unwrap(), head);
}

on_every_backend!(
    unrefreshed_registrations_expire_once,
    deadline_breach_fires_once_and_never_on_replay,
    callback_reminder_fires_a_day_after_completion,
    granted_approval_takes_effect_by_itself_or_records_why_not,
);
