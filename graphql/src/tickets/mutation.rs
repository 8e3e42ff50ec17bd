//! Ticket commands: registering a ticket and every step of its workflow, each through the
//! `Hotline` service. Each returns the log position it wrote and the ticket once the read models
//! show the change; a committed change is never reported as an error (see [`TicketPayload`]).

use crate::auth::{Action, Permission, Scope};
use crate::context::{api, caller, code_enum, command_context, settle, uuid_of, Result};
use crate::error::ApiError;
use crate::tickets::query::visible_ticket;
use crate::tickets::types::{CreateTicketInput, PartInput, TicketPayload};
use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use hotline_domain::ticket::{
    EvidenceKind, NewTicket, Part, Satisfaction, Source, TicketAction, TicketRequest, TicketType, Urgency,
};
use hotline_domain::values::{ApprovalId, GeoPoint, PhoneNumber, TenantId, TicketId, UnitCode, UserId};
use uuid::Uuid;

/// Namespace of ticket ids derived from client command ids.
const TICKET_ID_NAMESPACE: Uuid = Uuid::from_u128(0x2f0e_55a1_7c3b_4e8d_a6f1_0b9c_7d2e_0001);

/// The approval a gated mutation names, if any.
fn approval_ref(approval_id: &Option<ID>) -> std::result::Result<Option<ApprovalId>, ApiError> {
    approval_id.as_ref().map(|id| uuid_of("approvalId", id).map(ApprovalId)).transpose()
}

/// Ticket commands. Each takes an optional `clientCommandId` (a UUID): sending the same one
/// again returns the first result and appends nothing. Every text is checked against the
/// domain's limits (README "Limits"): a refusal is `INVALID_INPUT` with `extensions.rule`.
#[derive(Default)]
pub struct TicketMutation;

impl TicketMutation {
    async fn payload(
        ctx: &Context<'_>,
        ticket_id: &str,
        position: Option<u64>,
        duplicate: bool,
    ) -> std::result::Result<TicketPayload, ApiError> {
        // Committed: from here on nothing is an error.
        let read_models_current = settle(ctx, position).await;
        let ticket = match visible_ticket(ctx, ticket_id).await {
            Ok(ticket) => Some(ticket),
            Err(error) => {
                tracing::warn!(
                    ticket_id,
                    code = error.code(),
                    message = error.message(),
                    "committed; the ticket cannot be shown"
                );
                None
            }
        };
        Ok(TicketPayload { ticket, position, duplicate, read_models_current })
    }

    /// Checks the action's permission and the ticket's scope, runs the command, waits for the read models, returns the ticket.
    async fn run(
        ctx: &Context<'_>,
        ticket: &ID,
        client_command_id: Option<&ID>,
        action: Action,
        request: TicketRequest,
    ) -> std::result::Result<TicketPayload, ApiError> {
        if !caller(ctx)?.may(Permission::for_action(action)) {
            return Err(ApiError::Forbidden(format!("your role may not {}", request.name())));
        }
        visible_ticket(ctx, &ticket.0).await?;
        let ticket_id = TicketId(uuid_of("ticketId", ticket)?);
        let context = command_context(ctx, client_command_id, "graphql", None)?;
        let executed = api(ctx).hotline.ticket(&context, ticket_id, request).await?;
        Self::payload(ctx, &ticket.0, executed.outcome.last_position, executed.outcome.duplicate).await
    }
}

#[Object]
impl TicketMutation {
    /// Registers a ticket (受理): its number and deadline come from the tenant's policy.
    async fn create_ticket(
        &self,
        ctx: &Context<'_>,
        input: CreateTicketInput,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let caller = caller(ctx)?;
        if !caller.may(Permission::for_action(Action::CreateTicket)) {
            return Err(ApiError::Forbidden("your role may not register tickets".into()).into());
        }
        let tenant = match (caller.scope(), input.tenant) {
            (Scope::Group, Some(tenant)) => tenant,
            (Scope::Tenant(own), None) => own,
            (Scope::Tenant(own), Some(asked)) if own == asked => own,
            _ => return Err(ApiError::Forbidden("tickets are registered in your own tenant".into()).into()),
        };
        let caller_phone = match &input.caller_phone {
            Some(raw) => Some(
                PhoneNumber::parse(raw)
                    .ok_or_else(|| ApiError::InvalidInput(format!("{raw:?} is not a phone number")))?,
            ),
            None => None,
        };
        // A retry with the same client command id must name the same ticket, so its id derives
        // from the command id; without one, a fresh id.
        let ticket_id = TicketId(match &client_command_id {
            Some(id) => Uuid::new_v5(&TICKET_ID_NAMESPACE, uuid_of("clientCommandId", id)?.as_bytes()),
            None => Uuid::now_v7(),
        });
        let new = NewTicket {
            ticket_id,
            ticket_no: String::new(),
            tenant: TenantId(tenant),
            ticket_type: TicketType(input.r#type),
            urgency: code_enum::<Urgency>("urgency", &input.urgency)?,
            source: code_enum::<Source>("source", &input.source)?,
            customer_id: input
                .customer_id
                .as_ref()
                .map(|id| uuid_of("customerId", id))
                .transpose()?
                .map(hotline_domain::values::CustomerId),
            caller_phone,
            address: input.address,
            description: input.description,
            deadline_override: input.deadline,
        };
        let context = command_context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let created = api(ctx).hotline.create_ticket(&context, new).await.map_err(ApiError::from)?;
        Ok(Self::payload(ctx, &created.ticket_id.to_string(), created.outcome.last_position, created.outcome.duplicate)
            .await?)
    }

    /// Dispatches to a station (派单); after a dissatisfied callback this is a redispatch and
    /// may need an approval.
    async fn dispatch_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        station: String,
        #[graphql(default)] note: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        let request = TicketAction::Dispatch { station: UnitCode(station), note, approval };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::DispatchTicket, request).await?)
    }

    /// The station accepts (确认), optionally assigning a worker.
    async fn accept_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        station: String,
        worker: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::Accept { station: UnitCode(station), worker: worker.map(UserId) };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::AcceptTicket, request).await?)
    }

    /// The station declines a dispatch.
    async fn reject_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Action::RejectTicket,
            TicketAction::Reject { reason },
        )
        .await?)
    }

    /// The station sends an accepted ticket back (退回); usually needs an approval.
    async fn return_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Action::ReturnTicket,
            TicketAction::Return { reason, approval },
        )
        .await?)
    }

    /// Moves the ticket to another station or worker (改派).
    async fn reassign_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        station: Option<String>,
        worker: Option<String>,
        reason: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::Reassign { station: station.map(UnitCode), worker: worker.map(UserId), reason };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::ReassignTicket, request).await?)
    }

    /// Urges the handler (催办).
    async fn urge_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        #[graphql(default)] note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::UrgeTicket, TicketAction::Urge { note })
            .await?)
    }

    /// Puts the ticket under supervision (督办) by a unit.
    async fn supervise_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        unit: String,
        note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::Supervise { unit: UnitCode(unit), note };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::SuperviseTicket, request).await?)
    }

    /// Escalates to the group (越级投诉).
    async fn escalate_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Action::EscalateTicket,
            TicketAction::Escalate { reason },
        )
        .await?)
    }

    /// The assigned worker checks in on site with GPS.
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        latitude: f64,
        longitude: f64,
        accuracy_m: f64,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::CheckIn { location: GeoPoint { latitude, longitude, accuracy_m } };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::CheckIn, request).await?)
    }

    /// Attaches a photo, video or recording (`photo`, `video`, `audio`) by its URI and SHA-256.
    // Each argument is a GraphQL argument of the field; grouping them would change the API.
    #[allow(clippy::too_many_arguments)]
    async fn attach_evidence(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        kind: String,
        uri: String,
        sha256: String,
        taken_at: DateTime<Utc>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::AttachEvidence {
            kind: code_enum::<EvidenceKind>("kind", &kind)?,
            uri,
            sha256,
            taken_at,
            location: None,
        };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::AttachEvidence, request).await?)
    }

    /// Records a room temperature (测温).
    async fn record_temperature(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        room: String,
        celsius: f64,
        taken_at: DateTime<Utc>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::RecordTemperature { room, celsius, taken_at };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::RecordTemperature, request).await?)
    }

    /// Records the result (回填), with parts as `[{code, name, quantity}]`.
    async fn record_work_result(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        result: String,
        #[graphql(default)] parts: Vec<PartInput>,
        duration_minutes: u32,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let parts = parts.into_iter().map(|p| Part { code: p.code, name: p.name, quantity: p.quantity }).collect();
        let request = TicketAction::RecordResult { result, parts, duration_minutes };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::RecordWorkResult, request).await?)
    }

    /// The customer signs and rates on the worker's phone.
    async fn collect_signature(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        signature_uri: String,
        sha256: String,
        satisfaction: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::CollectSignature {
            signature_uri,
            sha256,
            satisfaction: code_enum::<Satisfaction>("satisfaction", &satisfaction)?,
        };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::CollectSignature, request).await?)
    }

    /// Field work is done.
    async fn complete_work(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::CompleteWork, TicketAction::CompleteWork)
            .await?)
    }

    /// Records the callback (回访): `satisfied`, `basically_satisfied` or `dissatisfied`.
    async fn record_callback(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        satisfaction: String,
        #[graphql(default)] note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let request = TicketAction::RecordCallback {
            satisfaction: code_enum::<Satisfaction>("satisfaction", &satisfaction)?,
            note,
        };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::RecordCallback, request).await?)
    }

    /// Completes a node the tenant added to the workflow.
    async fn complete_workflow_node(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        node: String,
        #[graphql(default)] note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Action::CompleteWorkflowNode,
            TicketAction::CompleteNode { node, note },
        )
        .await?)
    }

    /// Closes (办结).
    async fn close_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        #[graphql(default)] note: String,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::CloseTicket, TicketAction::Close { note })
            .await?)
    }

    /// Moves the deadline later (延时); usually needs a granted `delay` approval.
    async fn extend_deadline(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        new_deadline: DateTime<Utc>,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        let request = TicketAction::ExtendDeadline { new_deadline, reason, approval };
        Ok(Self::run(ctx, &ticket_id, client_command_id.as_ref(), Action::ExtendDeadline, request).await?)
    }

    /// Skips the callback (免回访); usually needs a granted `callback_exemption` approval.
    async fn exempt_callback(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Action::ExemptCallback,
            TicketAction::ExemptCallback { reason, approval },
        )
        .await?)
    }

    /// Voids (作废) an invalid ticket; usually needs a granted `void` approval.
    async fn void_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Action::VoidTicket,
            TicketAction::Void { reason, approval },
        )
        .await?)
    }

    /// Cancels (取消) at the customer's request; usually needs a granted `cancel` approval.
    async fn cancel_ticket(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        reason: String,
        approval_id: Option<ID>,
        client_command_id: Option<ID>,
    ) -> Result<TicketPayload> {
        let approval = approval_ref(&approval_id)?;
        Ok(Self::run(
            ctx,
            &ticket_id,
            client_command_id.as_ref(),
            Action::CancelTicket,
            TicketAction::Cancel { reason, approval },
        )
        .await?)
    }
}
