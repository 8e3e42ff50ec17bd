//! Every path of the command side that reads stored events decodes them through the codec, on
//! every backend: an old schema version is upcast like anywhere else, and a version this build does
//! not know is refused rather than read as raw JSON.
//!
//! Issue 11 ("One home for each rule"): the approval applier, the export scan and the lookup by
//! ticket number read fields straight from the stored payload, skipping the upcasters. Each test
//! here reads a ticket registered by the first release (`TicketCreated` v1, as in
//! `replay-tests/fixtures/ticket_v1_created_then_closed.jsonl`) through one of those paths, then
//! shows that an event of an unknown version stops the path instead of being half-read.

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hotline_commands::bundle::{self, ExportFailure};
use hotline_commands::handler::CommandContext;
use hotline_commands::process::{ApprovalApplier, Follower};
use hotline_commands::seal::SealKey;
use hotline_commands::service::ServiceError;
use hotline_commands::store::{AppendRequest, ExpectedVersion, NewEvent, StreamId};
use hotline_commands::Hotline;
use hotline_domain::approval::{ApprovalAction, ApprovalLevel, GatedOperation};
use hotline_domain::codec::EncodedEvent;
use hotline_domain::export::{ExportAction, ExportScope};
use hotline_domain::numbering::NumberingEvent;
use hotline_domain::organisation::Role;
use hotline_domain::values::{ApprovalId, TicketId};
use hotline_domain::EventCodec;
use serde_json::json;
use std::sync::Arc;
use support::TestStore;
use uuid::Uuid;

const TICKET_NO: &str = "tj01-2026-000001";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn ctx(actor: &str) -> CommandContext {
    CommandContext::new(actor, "test", t0() + Duration::hours(1))
}

/// Appends one event as it is stored, whatever its version.
async fn append_stored(
    t: &TestStore,
    stream: StreamId,
    event_type: &str,
    schema_version: u32,
    payload: serde_json::Value,
) {
    let encoded = EncodedEvent { event_type: event_type.into(), schema_version, payload };
    let request = AppendRequest {
        stream_id: stream,
        expected: ExpectedVersion::Any,
        events: vec![NewEvent::encoded(encoded, ctx("legacy").metadata())],
        command_id: None,
        fingerprint: None,
    };
    t.store.append(request).await.expect("append a stored event");
}

/// The organisation, and a ticket registered by the first release: number 1 of 2026 and its
/// `TicketCreated` at schema version 1 ("urgent" flag, no source).
async fn legacy_ticket(t: &TestStore) -> (Hotline, TicketId) {
    t.clock.set(t0());
    let hotline = Hotline::new(Arc::clone(&t.store), t.clock.clone(), "hq");
    support::small_organisation(&hotline, t0()).await;
    let ticket_id = TicketId(Uuid::now_v7());
    let allocated = NumberingEvent::Allocated { ticket_id }.encode();
    let numbering = StreamId::new("ticketno", "tj01-2026");
    append_stored(t, numbering, &allocated.event_type, allocated.schema_version, allocated.payload).await;
    let v1 = json!({
        "ticket_id": ticket_id, "ticket_no": TICKET_NO, "tenant": "tj01", "ticket_type": "repair",
        "urgent": true, "customer_id": null, "caller_phone": "13812345678", "address": "幸福里3号楼2单元501室",
        "description": "暖气片不热", "created_by": "tj01-agent1", "deadline_at": "2026-11-23T17:00:00Z",
        "deadline_hours": 8, "extra_nodes": []
    });
    append_stored(t, StreamId::new("ticket", ticket_id), "TicketCreated", 1, v1).await;
    (hotline, ticket_id)
}

/// A delay of the ticket, requested and granted at the station (the default chain of a delay).
async fn granted_delay(hotline: &Hotline, ticket_id: TicketId) -> ApprovalId {
    let approval_id = ApprovalId(Uuid::now_v7());
    let details = json!({ "new_deadline": "2026-11-25T09:00:00Z" });
    hotline
        .request_approval(&ctx("lead"), approval_id, ticket_id, GatedOperation::Delay, "等待配件", details)
        .await
        .unwrap();
    // The ticket has no station: the subsidiary's supervisor decides the station level.
    let approve = ApprovalAction::Approve {
        level: ApprovalLevel::Station,
        approver: support::approver(Role::Supervisor),
        comment: String::new(),
    };
    hotline.decide_approval(&ctx("boss"), approval_id, approve).await.unwrap();
    approval_id
}

async fn ticket_id_by_number_finds_a_ticket_registered_at_version_1(t: TestStore) {
    let (hotline, ticket_id) = legacy_ticket(&t).await;
    assert_eq!(hotline.ticket_id_by_number(TICKET_NO).await.unwrap(), Some(ticket_id));
}

async fn approval_applier_decodes_ticket_events_through_the_codec(t: TestStore) {
    let (hotline, ticket_id) = legacy_ticket(&t).await;
    let delay = granted_delay(&hotline, ticket_id).await;
    let mut applier = Follower::new(hotline.clone(), ApprovalApplier::default());
    assert_eq!(applier.step().await.unwrap(), 1, "the delay of the v1 ticket took effect");
    applier.catch_up().await.unwrap();
    assert!(applier.manager().pending().is_empty(), "the extension that used {delay} was seen");

    // A ticket event of a version this build does not know says nothing it can trust, not even
    // which approval it used: before issue 11 its raw `approval_id` marked this grant as applied.
    let pending = granted_delay(&hotline, ticket_id).await;
    let unknown = json!({ "by": "lead", "reason": "作废", "approval_id": pending });
    append_stored(&t, StreamId::new("ticket", ticket_id), "TicketVoided", 99, unknown).await;
    let refused = Follower::new(hotline, ApprovalApplier::default()).step().await;
    assert!(matches!(refused, Err(ServiceError::Decode { .. })), "{refused:?}");
}

async fn export_decodes_approval_requests_through_the_codec(t: TestStore) {
    let (hotline, ticket_id) = legacy_ticket(&t).await;
    let delay = granted_delay(&hotline, ticket_id).await;
    let key = SealKey::generate();
    let scope = ExportScope::Ticket { ticket_no: TICKET_NO.into() };
    let export = |hotline: Hotline, scope: ExportScope, key: SealKey| async move {
        let request_id = Uuid::now_v7();
        let request = ExportAction::Request { scope: scope.clone(), reason: "供热办调阅函".into() };
        hotline.export(&ctx("auditor1"), request_id, request).await.unwrap();
        hotline.export(&ctx("admin1"), request_id, ExportAction::Approve { comment: String::new() }).await.unwrap();
        bundle::export(&hotline, &ctx("auditor1"), request_id, &scope, &key).await
    };
    let exported = export(hotline.clone(), scope.clone(), key.clone()).await.expect("export the v1 ticket");
    let ticket = StreamId::new("ticket", ticket_id).to_string();
    let approval = StreamId::new("approval", delay).to_string();
    assert_eq!(exported.manifest.streams, [approval, ticket]);

    // An approval request of a version this build does not know cannot say which ticket it is
    // for: before issue 11 its raw `ticket_id` put it into the bundle.
    let unknown = json!({ "approval_id": Uuid::now_v7(), "ticket_id": ticket_id, "ticket_no": TICKET_NO });
    append_stored(&t, StreamId::new("approval", Uuid::now_v7()), "ApprovalRequested", 99, unknown).await;
    let refused = export(hotline, scope, key).await;
    assert!(matches!(refused, Err(ExportFailure::Service(ServiceError::Decode { .. }))), "{refused:?}");
}

on_every_backend!(
    ticket_id_by_number_finds_a_ticket_registered_at_version_1,
    approval_applier_decodes_ticket_events_through_the_codec,
    export_decodes_approval_requests_through_the_codec,
);
