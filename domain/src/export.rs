//! Compliance exports (合规导出) as approved, audited commands. Stream `export-<uuid>`.
//!
//! A bundle of the log leaves the system only through a request that names what is exported
//! ([`ExportScope`]) and why, approved by a *different* person (four eyes). Each bundle written
//! under an approved request is recorded with the SHA-256 of its manifest, so an auditor can tell
//! later which bundle is genuine, who asked for it, why, and who approved it.

use crate::codec::{decode_tagged, encode_tagged, no_upcasters, EncodedEvent};
use crate::text::{Text, CODE, NOTE};
use crate::values::{TenantId, UserId};
use crate::{Decider, DecodeError, EventCodec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Marker type of the export decider.
pub struct Export;

/// What a bundle covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportScope {
    /// One ticket's whole history (its stream and its approvals).
    Ticket {
        /// The human ticket number.
        ticket_no: String,
    },
    /// Every event of one tenant recorded in `[from, to)`.
    Tenant {
        /// The subsidiary.
        tenant: TenantId,
        /// Start, inclusive.
        from: DateTime<Utc>,
        /// End, exclusive.
        to: DateTime<Utc>,
    },
}

impl std::fmt::Display for ExportScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportScope::Ticket { ticket_no } => write!(f, "ticket {ticket_no}"),
            ExportScope::Tenant { tenant, from, to } => {
                write!(f, "tenant {} from {} to {}", tenant.0, from.to_rfc3339(), to.to_rfc3339())
            }
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Awaiting a decision.
    Pending,
    /// Bundles may be written.
    Approved,
    /// Refused; nothing may be written.
    Rejected,
}

impl ExportStatus {
    /// Wire code, as in the dictionary.
    pub fn code(self) -> &'static str {
        match self {
            ExportStatus::Pending => "pending",
            ExportStatus::Approved => "approved",
            ExportStatus::Rejected => "rejected",
        }
    }
}

/// Commands of the export decider.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportCommand {
    /// Who acts.
    pub actor: UserId,
    /// When (from the caller).
    pub at: DateTime<Utc>,
    /// What they do.
    pub action: ExportAction,
}

/// What an export command does.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportAction {
    /// Asks for an export.
    Request {
        /// What to export.
        scope: ExportScope,
        /// Why (mandatory: e.g. the regulator's letter).
        reason: String,
    },
    /// Another person approves.
    Approve {
        /// Optional comment.
        comment: String,
    },
    /// Another person refuses; a reason is mandatory.
    Reject {
        /// Why, in the person's own words (mandatory: auditors read it).
        reason: String,
    },
    /// A bundle was written under the approved request.
    RecordProduced {
        /// SHA-256 of the bundle's manifest, hex.
        manifest_sha256: String,
        /// Events in the bundle.
        events: u64,
        /// The signed checkpoint the bundle's proofs lead to.
        checkpoint_no: u64,
    },
}

/// Facts of an export stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum ExportEvent {
    /// An export was requested.
    #[serde(rename = "ExportRequested")]
    Requested {
        /// What is to be exported: one ticket, or a tenant over a time range.
        scope: ExportScope,
        /// Why, in the person's own words (mandatory: auditors read it).
        reason: String,
        /// Who asked.
        requested_by: UserId,
    },
    /// The request was approved.
    #[serde(rename = "ExportApproved")]
    Approved {
        /// Who approved.
        approver: UserId,
        /// The approver's remark; may be empty.
        comment: String,
    },
    /// The request was refused.
    #[serde(rename = "ExportRejected")]
    Rejected {
        /// Who refused.
        approver: UserId,
        /// Why, in the person's own words (mandatory: auditors read it).
        reason: String,
    },
    /// A bundle was written.
    #[serde(rename = "ExportProduced")]
    Produced {
        /// Who wrote it.
        produced_by: UserId,
        /// SHA-256 of its manifest, hex.
        manifest_sha256: String,
        /// Events in it.
        events: u64,
        /// The checkpoint its proofs lead to.
        checkpoint_no: u64,
    },
}

const EXPORT_VERSIONS: &[(&str, u32)] = &[];

impl EventCodec for ExportEvent {
    fn encode(&self) -> EncodedEvent {
        encode_tagged(self, EXPORT_VERSIONS)
    }

    fn decode(event_type: &str, schema_version: u32, payload: serde_json::Value) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload, EXPORT_VERSIONS, no_upcasters)
    }

    fn decode_text(event_type: &str, schema_version: u32, payload: &str) -> Result<Self, DecodeError> {
        crate::codec::decode_tagged_text(event_type, schema_version, payload, EXPORT_VERSIONS, no_upcasters)
    }
}

/// State of one export request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportState {
    /// `None` until requested.
    pub status: Option<ExportStatus>,
    /// What is to be exported: one ticket, or a tenant over a time range.
    pub scope: Option<ExportScope>,
    /// Why, in the person's own words (mandatory: auditors read it).
    pub reason: String,
    /// Who asked.
    pub requested_by: Option<UserId>,
    /// Who decided.
    pub decided_by: Option<UserId>,
    /// Bundles written so far.
    pub produced: u32,
}

/// Why an export command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr)]
pub enum ExportError {
    /// No such request.
    #[error("export request not found")]
    ExportRequestNotFound,
    /// The id is taken.
    #[error("export already requested")]
    ExportAlreadyRequested,
    /// A request and a rejection need a reason.
    #[error("a reason is required")]
    ReasonRequired,
    /// A tenant scope must have `from` before `to`.
    #[error("the export period is empty: from must be before to")]
    EmptyPeriod,
    /// The requester may not approve their own export.
    #[error("the requester may not decide their own export (four eyes)")]
    SelfApproval,
    /// Decided already.
    #[error("export request already {0:?}")]
    AlreadyDecided(ExportStatus),
    /// A bundle needs an approved request.
    #[error("export request is {0:?}, not approved: nothing may be exported")]
    NotApproved(ExportStatus),
}

impl ExportError {
    /// The rule's stable name (the variant name), for `extensions.rule` and sync results.
    pub fn rule(&self) -> &'static str {
        self.into()
    }
}

impl Decider for Export {
    type State = ExportState;
    type Command = ExportCommand;
    type Event = ExportEvent;
    type Error = ExportError;

    const CATEGORY: &'static str = "export";

    fn texts(command: &ExportCommand) -> Vec<Text<'_>> {
        match &command.action {
            ExportAction::Request { scope: ExportScope::Ticket { ticket_no }, reason } => {
                vec![Text::new("ticketNo", CODE, ticket_no), Text::new("reason", NOTE, reason)]
            }
            ExportAction::Request { scope: ExportScope::Tenant { tenant, .. }, reason } => {
                vec![Text::new("tenant", CODE, &tenant.0), Text::new("reason", NOTE, reason)]
            }
            ExportAction::Approve { comment } => vec![Text::new("comment", NOTE, comment)],
            ExportAction::Reject { reason } => vec![Text::new("reason", NOTE, reason)],
            ExportAction::RecordProduced { manifest_sha256, .. } => {
                vec![Text::new("manifestSha256", CODE, manifest_sha256)]
            }
        }
    }

    fn decide(state: &ExportState, command: &ExportCommand) -> Result<Vec<ExportEvent>, ExportError> {
        let actor = command.actor.clone();
        match (&command.action, state.status) {
            (ExportAction::Request { .. }, Some(_)) => Err(ExportError::ExportAlreadyRequested),
            (ExportAction::Request { scope, reason }, None) => {
                if reason.trim().is_empty() {
                    return Err(ExportError::ReasonRequired);
                }
                if let ExportScope::Tenant { from, to, .. } = scope {
                    if from >= to {
                        return Err(ExportError::EmptyPeriod);
                    }
                }
                Ok(vec![ExportEvent::Requested { scope: scope.clone(), reason: reason.clone(), requested_by: actor }])
            }
            (_, None) => Err(ExportError::ExportRequestNotFound),
            (ExportAction::Approve { .. } | ExportAction::Reject { .. }, Some(status))
                if status != ExportStatus::Pending =>
            {
                Err(ExportError::AlreadyDecided(status))
            }
            (ExportAction::Approve { .. } | ExportAction::Reject { .. }, _)
                if state.requested_by.as_ref() == Some(&actor) =>
            {
                Err(ExportError::SelfApproval)
            }
            (ExportAction::Approve { comment }, _) => {
                Ok(vec![ExportEvent::Approved { approver: actor, comment: comment.clone() }])
            }
            (ExportAction::Reject { reason }, _) if reason.trim().is_empty() => Err(ExportError::ReasonRequired),
            (ExportAction::Reject { reason }, _) => {
                Ok(vec![ExportEvent::Rejected { approver: actor, reason: reason.clone() }])
            }
            (ExportAction::RecordProduced { .. }, Some(status)) if status != ExportStatus::Approved => {
                Err(ExportError::NotApproved(status))
            }
            (ExportAction::RecordProduced { manifest_sha256, events, checkpoint_no }, _) => {
                Ok(vec![ExportEvent::Produced {
                    produced_by: actor,
                    manifest_sha256: manifest_sha256.clone(),
                    events: *events,
                    checkpoint_no: *checkpoint_no,
                }])
            }
        }
    }

    fn evolve(mut state: ExportState, event: &ExportEvent) -> ExportState {
        match event {
            ExportEvent::Requested { scope, reason, requested_by } => {
                state.status = Some(ExportStatus::Pending);
                state.scope = Some(scope.clone());
                state.reason = reason.clone();
                state.requested_by = Some(requested_by.clone());
            }
            ExportEvent::Approved { approver, .. } => {
                state.status = Some(ExportStatus::Approved);
                state.decided_by = Some(approver.clone());
            }
            ExportEvent::Rejected { approver, .. } => {
                state.status = Some(ExportStatus::Rejected);
                state.decided_by = Some(approver.clone());
            }
            ExportEvent::Produced { .. } => state.produced += 1,
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::given;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    fn by(user: &str, action: ExportAction) -> ExportCommand {
        ExportCommand { actor: UserId(user.into()), at: at(), action }
    }

    fn requested() -> ExportEvent {
        ExportEvent::Requested {
            scope: ExportScope::Ticket { ticket_no: "tj01-2026-000001".into() },
            reason: "监管调阅函 2026-17".into(),
            requested_by: UserId("auditor".into()),
        }
    }

    fn approved() -> ExportEvent {
        ExportEvent::Approved { approver: UserId("admin".into()), comment: String::new() }
    }

    fn produced() -> ExportAction {
        ExportAction::RecordProduced { manifest_sha256: "ab".repeat(32), events: 12, checkpoint_no: 3 }
    }

    #[test]
    fn a_request_needs_a_reason_and_a_real_period() {
        let scope = ExportScope::Ticket { ticket_no: "tj01-2026-000001".into() };
        given::<Export>(vec![])
            .when(by("auditor", ExportAction::Request { scope: scope.clone(), reason: " ".into() }))
            .then_err(ExportError::ReasonRequired);
        let tenant = ExportScope::Tenant { tenant: TenantId("tj01".into()), from: at(), to: at() };
        given::<Export>(vec![])
            .when(by("auditor", ExportAction::Request { scope: tenant, reason: "年度审计".into() }))
            .then_err(ExportError::EmptyPeriod);
        given::<Export>(vec![])
            .when(by("auditor", ExportAction::Request { scope, reason: "监管调阅函 2026-17".into() }))
            .then(vec![requested()]);
        given::<Export>(vec![requested()])
            .when(by(
                "auditor",
                ExportAction::Request { scope: ExportScope::Ticket { ticket_no: "x".into() }, reason: "again".into() },
            ))
            .then_err(ExportError::ExportAlreadyRequested);
    }

    #[test]
    fn four_eyes_decide_once() {
        given::<Export>(vec![requested()])
            .when(by("auditor", ExportAction::Approve { comment: String::new() }))
            .then_err(ExportError::SelfApproval);
        given::<Export>(vec![requested()])
            .when(by("admin", ExportAction::Approve { comment: String::new() }))
            .then(vec![approved()]);
        given::<Export>(vec![requested()])
            .when(by("admin", ExportAction::Reject { reason: String::new() }))
            .then_err(ExportError::ReasonRequired);
        given::<Export>(vec![requested(), approved()])
            .when(by("admin2", ExportAction::Reject { reason: "no".into() }))
            .then_err(ExportError::AlreadyDecided(ExportStatus::Approved));
        given::<Export>(vec![])
            .when(by("admin", ExportAction::Approve { comment: String::new() }))
            .then_err(ExportError::ExportRequestNotFound);
    }

    #[test]
    fn only_an_approved_request_produces_bundles() {
        given::<Export>(vec![requested()])
            .when(by("auditor", produced()))
            .then_err(ExportError::NotApproved(ExportStatus::Pending));
        let rejected = ExportEvent::Rejected { approver: UserId("admin".into()), reason: "越权".into() };
        given::<Export>(vec![requested(), rejected])
            .when(by("auditor", produced()))
            .then_err(ExportError::NotApproved(ExportStatus::Rejected));
        given::<Export>(vec![requested(), approved()]).when(by("auditor", produced())).then(vec![
            ExportEvent::Produced {
                produced_by: UserId("auditor".into()),
                manifest_sha256: "ab".repeat(32),
                events: 12,
                checkpoint_no: 3,
            },
        ]);
    }

    #[test]
    fn events_round_trip_through_the_codec() {
        for event in [requested(), approved()] {
            let encoded = event.encode();
            let decoded = ExportEvent::decode(&encoded.event_type, encoded.schema_version, encoded.payload).unwrap();
            assert_eq!(decoded, event);
        }
    }
}
