//! The offline mobile app's batch (`syncBatch`): field work recorded without a network, replayed
//! in order with each command's client id and device time. A re-sent batch appends nothing; a
//! refused command reports its rule and the batch goes on; a client id reused for a different
//! command (another action, ticket, time or arguments) is rejected with `CONFLICT`.

use crate::auth::{Action, Caller, Permission};
use crate::context::{api, caller, command_context, fingerprint, settle, uuid_of, Result};
use crate::error::ApiError;
use crate::tickets::query::visible_ticket;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use hotline_domain::ticket::{EvidenceKind, Part, Satisfaction, TicketAction, TicketRequest};
use hotline_domain::values::{GeoPoint, TicketId, UnitCode, UserId};

/// One command of an offline batch.
#[derive(InputObject, Debug)]
pub struct SyncCommandInput {
    /// The phone's id for this command (a UUID); a re-sent batch is recognised by it.
    client_command_id: ID,
    /// When the worker did it, by the phone's clock.
    device_time: DateTime<Utc>,
    /// The ticket.
    ticket_id: ID,
    /// `check_in`, `attach_evidence`, `record_temperature`, `record_result`,
    /// `collect_signature`, `complete_work`, `accept`, `reject`, `complete_node`.
    action: String,
    /// The action's arguments, as in the matching mutation (snake_case keys).
    #[graphql(default_with = "async_graphql::Json(serde_json::json!({}))")]
    args: async_graphql::Json<serde_json::Value>,
}

/// What happened to one offline command.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SyncStatus {
    /// Appended now.
    Applied,
    /// Sent before: its first result stands, nothing was appended.
    Duplicate,
    /// Refused; `rule` says why. Nothing was appended.
    Rejected,
}

/// The result of one offline command.
#[derive(SimpleObject, Debug)]
pub struct SyncResult {
    /// The command.
    client_command_id: ID,
    /// Applied, duplicate or rejected.
    status: SyncStatus,
    /// The broken rule or error code, when rejected.
    rule: Option<String>,
    /// What was wrong, when rejected.
    message: Option<String>,
    /// The log position it wrote (or first wrote).
    position: Option<u64>,
    /// Whether the read models showed the whole batch within 5 s (the same for every result).
    /// `false`: what was applied is committed, but queries may not show it yet; do not re-send
    /// for that reason (a re-sent command is `DUPLICATE` anyway).
    read_models_current: bool,
}

/// Offline actions, as the phone sends them.
#[derive(serde::Deserialize)]
#[serde(tag = "action", content = "args", rename_all = "snake_case", deny_unknown_fields)]
enum SyncAction {
    CheckIn {
        latitude: f64,
        longitude: f64,
        accuracy_m: f64,
    },
    AttachEvidence {
        kind: EvidenceKind,
        uri: String,
        sha256: String,
        taken_at: DateTime<Utc>,
        latitude: Option<f64>,
        longitude: Option<f64>,
    },
    RecordTemperature {
        room: String,
        celsius: f64,
        taken_at: DateTime<Utc>,
    },
    RecordResult {
        result: String,
        #[serde(default)]
        parts: Vec<Part>,
        duration_minutes: u32,
    },
    CollectSignature {
        signature_uri: String,
        sha256: String,
        satisfaction: Satisfaction,
    },
    CompleteWork {},
    Accept {
        station: String,
        worker: Option<String>,
    },
    Reject {
        reason: String,
    },
    CompleteNode {
        node: String,
        #[serde(default)]
        note: String,
    },
}

impl SyncAction {
    /// The mutation this offline command stands for: it needs what that mutation needs.
    fn action(&self) -> Action {
        match self {
            SyncAction::CheckIn { .. } => Action::CheckIn,
            SyncAction::AttachEvidence { .. } => Action::AttachEvidence,
            SyncAction::RecordTemperature { .. } => Action::RecordTemperature,
            SyncAction::RecordResult { .. } => Action::RecordWorkResult,
            SyncAction::CollectSignature { .. } => Action::CollectSignature,
            SyncAction::CompleteWork {} => Action::CompleteWork,
            SyncAction::Accept { .. } => Action::AcceptTicket,
            SyncAction::Reject { .. } => Action::RejectTicket,
            SyncAction::CompleteNode { .. } => Action::CompleteWorkflowNode,
        }
    }

    fn into_request(self) -> TicketRequest {
        use TicketAction as A;
        match self {
            SyncAction::CheckIn { latitude, longitude, accuracy_m } => {
                A::CheckIn { location: GeoPoint { latitude, longitude, accuracy_m } }
            }
            SyncAction::AttachEvidence { kind, uri, sha256, taken_at, latitude, longitude } => {
                let location = latitude.zip(longitude).map(|(latitude, longitude)| GeoPoint {
                    latitude,
                    longitude,
                    accuracy_m: 0.0,
                });
                A::AttachEvidence { kind, uri, sha256, taken_at, location }
            }
            SyncAction::RecordTemperature { room, celsius, taken_at } => {
                A::RecordTemperature { room, celsius, taken_at }
            }
            SyncAction::RecordResult { result, parts, duration_minutes } => {
                A::RecordResult { result, parts, duration_minutes }
            }
            SyncAction::CollectSignature { signature_uri, sha256, satisfaction } => {
                A::CollectSignature { signature_uri, sha256, satisfaction }
            }
            SyncAction::CompleteWork {} => A::CompleteWork,
            SyncAction::Accept { station, worker } => {
                A::Accept { station: UnitCode(station), worker: worker.map(UserId) }
            }
            SyncAction::Reject { reason } => A::Reject { reason },
            SyncAction::CompleteNode { node, note } => A::CompleteNode { node, note },
        }
    }
}

/// Most commands in one offline batch.
pub const MAX_SYNC_BATCH: usize = 200;

/// The offline mobile app's mutation (merged into the mutation root).
#[derive(Default)]
pub struct SyncMutation;

#[Object]
impl SyncMutation {
    /// Replays what the mobile app did offline, in order. Each command carries its client command
    /// id and device time; a re-sent batch appends nothing and reports `DUPLICATE`; a refused
    /// command reports the rule and the batch goes on.
    async fn sync_batch(&self, ctx: &Context<'_>, commands: Vec<SyncCommandInput>) -> Result<Vec<SyncResult>> {
        let caller = caller(ctx)?;
        if !caller.may(Permission::for_action(Action::SyncBatch)) {
            return Err(ApiError::Forbidden("your role may not send offline batches".into()).into());
        }
        if commands.len() > MAX_SYNC_BATCH {
            return Err(ApiError::InvalidInput(format!("at most {MAX_SYNC_BATCH} commands per batch")).into());
        }
        let mut results = Vec::with_capacity(commands.len());
        let mut last_position = None;
        for command in commands {
            let outcome = sync_one(ctx, caller, &command).await;
            let result = match outcome {
                Ok((position, duplicate)) => {
                    last_position = position.or(last_position);
                    let status = if duplicate { SyncStatus::Duplicate } else { SyncStatus::Applied };
                    SyncResult {
                        client_command_id: command.client_command_id,
                        status,
                        rule: None,
                        message: None,
                        position,
                        read_models_current: true,
                    }
                }
                Err(error) => {
                    let rule = match &error {
                        ApiError::DomainRule { rule, .. } | ApiError::InvalidText { rule, .. } => rule.clone(),
                        other => other.code().to_owned(),
                    };
                    SyncResult {
                        client_command_id: command.client_command_id,
                        status: SyncStatus::Rejected,
                        rule: Some(rule),
                        message: Some(error.message().to_owned()),
                        position: None,
                        read_models_current: true,
                    }
                }
            };
            results.push(result);
        }
        // What was applied is committed: from here on nothing is an error.
        let current = settle(ctx, last_position).await;
        for result in &mut results {
            result.read_models_current = current;
        }
        Ok(results)
    }
}

async fn sync_one(
    ctx: &Context<'_>,
    caller: &Caller,
    command: &SyncCommandInput,
) -> std::result::Result<(Option<u64>, bool), ApiError> {
    let tagged = serde_json::json!({ "action": command.action, "args": command.args.0 });
    let action: SyncAction =
        serde_json::from_value(tagged).map_err(|e| ApiError::InvalidInput(format!("{}: {e}", command.action)))?;
    let permission = Permission::for_action(action.action());
    let request = action.into_request();
    if !caller.may(permission) {
        return Err(ApiError::Forbidden(format!("your role may not {}", request.name())));
    }
    visible_ticket(ctx, &command.ticket_id.0).await?;
    let mut context = command_context(ctx, Some(&command.client_command_id), "mobile", Some(command.device_time))?;
    context.correlation_id = context.command_id;
    // The batch's arguments hold every command: the fingerprint is this command's own content.
    let content = serde_json::json!({
        "mutation": "syncBatch",
        "ticketId": command.ticket_id.0,
        "deviceTime": command.device_time,
        "action": command.action,
        "args": command.args.0,
    });
    context.fingerprint = Some(fingerprint(&caller.user, &content));
    let ticket_id = TicketId(uuid_of("ticketId", &command.ticket_id)?);
    let executed = api(ctx).hotline.ticket(&context, ticket_id, request).await?;
    Ok((executed.outcome.last_position, executed.outcome.duplicate))
}

#[cfg(test)]
mod tests {
    use crate::auth::{Action, Permission};
    use crate::sync::SyncAction;
    use serde_json::json;
    use std::collections::BTreeSet;

    /// Every offline command kind, with arguments, and the mutation it stands for.
    fn kinds() -> Vec<(&'static str, serde_json::Value, &'static str)> {
        let at = "2026-11-23T01:00:00Z";
        vec![
            ("check_in", json!({"latitude": 39.1, "longitude": 117.2, "accuracy_m": 5.0}), "checkIn"),
            ("attach_evidence", json!({"kind": "photo", "uri": "u", "sha256": "00", "taken_at": at}), "attachEvidence"),
            ("record_temperature", json!({"room": "卧室", "celsius": 18.5, "taken_at": at}), "recordTemperature"),
            ("record_result", json!({"result": "换阀门", "duration_minutes": 30}), "recordWorkResult"),
            (
                "collect_signature",
                json!({"signature_uri": "u", "sha256": "00", "satisfaction": "satisfied"}),
                "collectSignature",
            ),
            ("complete_work", json!({}), "completeWork"),
            ("accept", json!({"station": "tj01-st01"}), "acceptTicket"),
            ("reject", json!({"reason": "不归本站"}), "rejectTicket"),
            ("complete_node", json!({"node": "复核"}), "completeWorkflowNode"),
        ]
    }

    #[test]
    fn every_sync_kind_needs_what_its_mutation_needs() {
        // serde names every kind it accepts when it refuses one: the list above must cover them.
        let refusal = serde_json::from_value::<SyncAction>(json!({"action": "?", "args": {}})).err().expect("refused");
        let accepted: BTreeSet<String> = refusal.to_string().split('`').skip(3).step_by(2).map(str::to_owned).collect();
        let listed: BTreeSet<String> = kinds().iter().map(|(kind, _, _)| kind.to_string()).collect();
        assert_eq!(listed, accepted, "every kind syncBatch accepts is listed here");
        for (kind, args, mutation) in kinds() {
            let command: SyncAction =
                serde_json::from_value(json!({"action": kind, "args": args})).unwrap_or_else(|e| panic!("{kind}: {e}"));
            let sync_action = command.action();
            assert_eq!(sync_action.field_name(), mutation, "{kind} stands for {mutation}");
            let mutation_action =
                Action::ALL.into_iter().find(|a| a.field_name() == mutation).expect("the mutation has an action");
            assert_eq!(
                Permission::for_action(sync_action),
                Permission::for_action(mutation_action),
                "{kind} needs what {mutation} needs"
            );
        }
    }
}
