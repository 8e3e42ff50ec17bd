//! The deadline watcher on every backend: fires once when a deadline passes, never again on
//! replay, and not for an extended deadline.

mod support;

use chrono::{Duration, TimeZone, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::process::DeadlineWatcher;
use hotline_commands::store::StreamId;
use hotline_commands::Hotline;
use hotline_domain::organisation::{OrganisationCommand, UnitKind};
use hotline_domain::ticket::{NewTicket, Source, TicketType, Urgency};
use hotline_domain::values::{TenantId, TicketId, UnitCode};
use std::sync::Arc;
use support::TestStore;
use uuid::Uuid;

async fn deadline_watcher_fires_once_and_never_on_replay(t: TestStore) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    t.clock.set(t0);
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    for (code, kind, parent) in [
        ("hq", UnitKind::Group, None),
        ("north", UnitKind::Division, Some("hq")),
        ("tj01", UnitKind::Subsidiary, Some("north")),
    ] {
        let command = OrganisationCommand::CreateUnit {
            code: UnitCode(code.into()),
            kind,
            name: code.into(),
            parent: parent.map(|p| UnitCode(p.into())),
        };
        hotline.organisation(&CommandContext::new("admin", "test", t0), &command).await.unwrap();
    }
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
    hotline.create_ticket(&CommandContext::new("agent1", "test", t0), new).await.unwrap();
    let mut watcher = DeadlineWatcher::new(hotline.clone());
    watcher.catch_up().await.unwrap();
    assert_eq!(watcher.next_deadline(), Some(t0 + Duration::hours(8)));
    assert!(watcher.fire_due().await.unwrap().is_empty(), "nothing is due yet");

    t.clock.set(t0 + Duration::hours(8) + Duration::minutes(1));
    assert_eq!(watcher.fire_due().await.unwrap(), vec![ticket_id]);
    let stream = t.store.read_stream(&StreamId::new("ticket", ticket_id), 1).await.unwrap();
    let types: Vec<&str> = stream.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["TicketCreated", "TicketDeadlineBreached", "TicketUrgencyRaised", "TicketSupervised"]);
    let meta = stream[1].meta().unwrap();
    assert_eq!((meta.source.as_str(), meta.actor.as_str()), ("timer", "system:deadline-watcher"));
    assert_eq!(meta.causation_id, Some(stream[0].event_id), "caused by the event that set the deadline");
    assert!(watcher.fire_due().await.unwrap().is_empty(), "fired once");

    // A new watcher replays the log from position 0 and fires nothing.
    let head = t.store.head().await.unwrap();
    let mut replayed = DeadlineWatcher::new(hotline.clone());
    replayed.catch_up().await.unwrap();
    t.clock.advance(Duration::days(2));
    assert!(replayed.fire_due().await.unwrap().is_empty());
    assert_eq!(t.store.head().await.unwrap(), head, "replay appended nothing");
    assert_eq!(replayed.next_deadline(), None);
}

on_every_backend!(deadline_watcher_fires_once_and_never_on_replay);
