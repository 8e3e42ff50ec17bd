//! Idempotency under abuse (issue 12), on every backend: concurrent retries of one command all get
//! its first result, and a command id reused for a different command is refused with nothing
//! appended.

mod support;

use chrono::{TimeZone, Utc};
use hotline_commands::handler::CommandContext;
use hotline_commands::service::ServiceError;
use hotline_commands::store::StreamId;
use hotline_commands::Hotline;
use hotline_domain::ticket::{NewTicket, Source, TicketAction, TicketType, Urgency};
use hotline_domain::values::{TenantId, TicketId};
use std::collections::BTreeSet;
use std::sync::Arc;
use support::TestStore;
use uuid::Uuid;

fn new_ticket(ticket_id: TicketId, description: &str) -> NewTicket {
    NewTicket {
        ticket_id,
        ticket_no: String::new(),
        tenant: TenantId("tj01".into()),
        ticket_type: TicketType("repair".into()),
        urgency: Urgency::Normal,
        source: Source::Phone,
        customer_id: None,
        caller_phone: None,
        address: "幸福里3号楼".into(),
        description: description.into(),
        deadline_override: None,
    }
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

/// The context of one client command: its id and the fingerprint of what it asked.
fn retry_of(command_id: Uuid, fingerprint: &str) -> CommandContext {
    CommandContext {
        command_id,
        correlation_id: command_id,
        fingerprint: Some(fingerprint.into()),
        ..CommandContext::new("agent1", "graphql", at())
    }
}

async fn concurrent_retries_of_a_registration_all_get_the_first_result(t: TestStore) {
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    support::small_organisation(&hotline, at()).await;
    let before = t.store.head().await.unwrap();
    let command_id = Uuid::now_v7();
    let ticket_id = TicketId(Uuid::now_v7());
    let retries: Vec<_> = (0..200)
        .map(|_| {
            let hotline = hotline.clone();
            tokio::spawn(async move {
                hotline.create_ticket(&retry_of(command_id, "content-a"), new_ticket(ticket_id, "暖气不热")).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for retry in retries {
        results.push(retry.await.unwrap().unwrap_or_else(|e| panic!("every retry gets the first result, got {e}")));
    }
    let numbers: BTreeSet<_> =
        results.iter().map(|r| (r.ticket_id, r.ticket_no.clone(), r.outcome.last_position)).collect();
    assert_eq!(numbers.len(), 1, "one ticket, one number, one position: {numbers:?}");
    assert_eq!(
        results.iter().filter(|r| !r.outcome.duplicate).count(),
        1,
        "one delivery appended, the others are duplicates"
    );
    // One number allocated and one ticket created: two events.
    assert_eq!(t.store.head().await.unwrap(), before + 2);
    let ticket = t.store.read_stream(&StreamId::new("ticket", ticket_id), 1).await.unwrap();
    assert_eq!(ticket.len(), 1);
}

async fn a_command_id_reused_for_a_different_command_is_refused(t: TestStore) {
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    support::small_organisation(&hotline, at()).await;
    let command_id = Uuid::now_v7();
    let ticket_id = TicketId(Uuid::now_v7());
    let first =
        hotline.create_ticket(&retry_of(command_id, "content-a"), new_ticket(ticket_id, "暖气不热")).await.unwrap();
    let head = t.store.head().await.unwrap();
    let reused = hotline.create_ticket(&retry_of(command_id, "content-b"), new_ticket(ticket_id, "漏水")).await;
    assert!(matches!(reused, Err(ServiceError::CommandIdReused { command_id: id }) if id == command_id), "{reused:?}");
    // The same id for another kind of command on the same ticket.
    let urge =
        hotline.ticket(&retry_of(command_id, "content-c"), ticket_id, TicketAction::Urge { note: "快".into() }).await;
    assert!(matches!(urge, Err(ServiceError::CommandIdReused { .. })), "{urge:?}");
    assert_eq!(t.store.head().await.unwrap(), head, "nothing appended");
    // The same content again is still a retry, and an id without a fingerprint (rows from
    // before fingerprints, internal commands) matches any.
    let again =
        hotline.create_ticket(&retry_of(command_id, "content-a"), new_ticket(ticket_id, "暖气不热")).await.unwrap();
    assert_eq!((again.ticket_no, again.outcome.duplicate), (first.ticket_no.clone(), true));
    let unknown = CommandContext { fingerprint: None, ..retry_of(command_id, "") };
    let unknown = hotline.create_ticket(&unknown, new_ticket(ticket_id, "暖气不热")).await.unwrap();
    assert_eq!(unknown.ticket_no, first.ticket_no);
}

on_every_backend!(
    concurrent_retries_of_a_registration_all_get_the_first_result,
    a_command_id_reused_for_a_different_command_is_refused,
);
