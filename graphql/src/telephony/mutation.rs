//! Telephony commands of the API: agents sign in at a seat, change status (示闲/示忙/话后整理/离开)
//! and sign out; subsidiary admins (or group admins, naming the tenant) change the tenant's
//! telephony configuration — queues and their thresholds, number routes, seats, the seat ↔ phone
//! binding and the blacklist — without a code change. Calls themselves are never mutated here:
//! they are observed from signalling.
//!
//! Every mutation returns the log `position` it wrote (pass it as `afterPosition` to read your
//! write) and takes an optional `clientCommandId` that makes a retry append nothing.

use crate::auth::{Action, Caller, Permission, Scope};
use crate::context::{api, caller, code_enum, command_context, Result};
use crate::error::ApiError;
use crate::telephony::types::{QueueInput, TelephonyPayload};
use async_graphql::{Context, Object, ID};
use hotline_domain::agent::AgentStatus;
use hotline_domain::telephony::{Extension, QueueConfig, QueueId, SeatId, TelephonyCommand};
use hotline_domain::values::{PhoneNumber, TenantId, UserId};

/// The telephony mutations.
#[derive(Default)]
pub struct TelephonyMutation;

fn payload<E: hotline_domain::EventCodec>(executed: hotline_commands::handler::Executed<E>) -> TelephonyPayload {
    TelephonyPayload {
        position: executed.outcome.last_position,
        duplicate: executed.outcome.duplicate,
        events: executed.events.iter().map(|e| e.encode().event_type).collect(),
    }
}

/// The agent's own tenant: agents and supervisors sign in where their token says.
fn agent_tenant(caller: &Caller, action: Action) -> std::result::Result<TenantId, ApiError> {
    if !caller.may(Permission::for_action(action)) {
        return Err(ApiError::Forbidden("only agents and supervisors sign in at seats".into()));
    }
    caller.tenant.clone().map(TenantId).ok_or_else(|| ApiError::Forbidden("your token names no tenant".into()))
}

/// The tenant whose configuration the caller may change.
fn admin_tenant(caller: &Caller, action: Action, tenant: Option<String>) -> std::result::Result<TenantId, ApiError> {
    if !caller.may(Permission::for_action(action)) {
        return Err(ApiError::Forbidden("only admins change the telephony configuration".into()));
    }
    match (caller.scope(), tenant) {
        (Scope::Group, Some(tenant)) => Ok(TenantId(tenant)),
        (Scope::Group, None) => Err(ApiError::InvalidInput("name the tenant".into())),
        (Scope::Tenant(own), None) => Ok(TenantId(own)),
        (Scope::Tenant(own), Some(asked)) if own == asked => Ok(TenantId(own)),
        _ => Err(ApiError::Forbidden("you configure your own tenant only".into())),
    }
}

fn phone_number(field: &str, raw: &str) -> std::result::Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw).ok_or_else(|| ApiError::InvalidInput(format!("{field} {raw:?} is not a phone number")))
}

async fn configure(
    ctx: &Context<'_>,
    action: Action,
    tenant: Option<String>,
    client_command_id: Option<ID>,
    command: TelephonyCommand,
) -> Result<TelephonyPayload> {
    let caller = caller(ctx)?;
    let tenant = admin_tenant(caller, action, tenant)?;
    let context = command_context(ctx, client_command_id.as_ref(), "graphql", None)?;
    let executed = api(ctx).hotline.configure_telephony(&context, &tenant, &command).await.map_err(ApiError::from)?;
    Ok(payload(executed))
}

#[Object]
impl TelephonyMutation {
    /// Signs the caller (an agent) in at a seat of their tenant (签入); they start idle. Refused
    /// when the seat is not configured or someone else sits there.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        seat: String,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        let caller = caller(ctx)?;
        let tenant = agent_tenant(caller, Action::SignIn)?;
        let context = command_context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let agent = UserId(caller.user.clone());
        let executed =
            api(ctx).hotline.sign_in(&context, &agent, &tenant, &SeatId(seat)).await.map_err(ApiError::from)?;
        Ok(payload(executed))
    }

    /// Signs the caller out (签出).
    async fn sign_out(&self, ctx: &Context<'_>, client_command_id: Option<ID>) -> Result<TelephonyPayload> {
        let caller = caller(ctx)?;
        let tenant = agent_tenant(caller, Action::SignOut)?;
        let context = command_context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let executed =
            api(ctx).hotline.sign_out(&context, &UserId(caller.user.clone()), &tenant).await.map_err(ApiError::from)?;
        Ok(payload(executed))
    }

    /// Changes the caller's status: `idle` (示闲), `busy` (示忙), `wrap_up` (话后整理), `away` (离开).
    async fn set_agent_status(
        &self,
        ctx: &Context<'_>,
        status: String,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        let caller = caller(ctx)?;
        let tenant = agent_tenant(caller, Action::SetAgentStatus)?;
        let status: AgentStatus = code_enum("agent status", &status)?;
        let context = command_context(ctx, client_command_id.as_ref(), "graphql", None)?;
        let agent = UserId(caller.user.clone());
        let executed =
            api(ctx).hotline.set_agent_status(&context, &agent, &tenant, status).await.map_err(ApiError::from)?;
        Ok(payload(executed))
    }

    /// Creates a queue or changes its name and thresholds (admins).
    async fn configure_queue(
        &self,
        ctx: &Context<'_>,
        input: QueueInput,
        tenant: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        let mut queue = QueueConfig::new(QueueId(input.queue_id), input.name_zh);
        queue.service_level_seconds = input.service_level_seconds.unwrap_or(queue.service_level_seconds);
        queue.short_abandon_seconds = input.short_abandon_seconds.unwrap_or(queue.short_abandon_seconds);
        queue.ring_timeout_seconds = input.ring_timeout_seconds.unwrap_or(queue.ring_timeout_seconds);
        configure(ctx, Action::ConfigureQueue, tenant, client_command_id, TelephonyCommand::ConfigureQueue(queue)).await
    }

    /// Routes calls to a dialled number (e.g. `96069`) to a queue (admins).
    async fn route_number(
        &self,
        ctx: &Context<'_>,
        dialled: String,
        queue_id: String,
        tenant: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        let command =
            TelephonyCommand::RouteNumber { dialled: phone_number("dialled", &dialled)?, queue: QueueId(queue_id) };
        configure(ctx, Action::RouteNumber, tenant, client_command_id, command).await
    }

    /// Creates a seat (admins).
    async fn define_seat(
        &self,
        ctx: &Context<'_>,
        seat: String,
        name_zh: String,
        tenant: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        configure(
            ctx,
            Action::DefineSeat,
            tenant,
            client_command_id,
            TelephonyCommand::DefineSeat { seat: SeatId(seat), name_zh },
        )
        .await
    }

    /// Binds an IP phone (extension) to a seat, one to one (admins).
    async fn bind_phone(
        &self,
        ctx: &Context<'_>,
        seat: String,
        extension: String,
        tenant: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        let command = TelephonyCommand::BindPhone { seat: SeatId(seat), extension: Extension(extension) };
        configure(ctx, Action::BindPhone, tenant, client_command_id, command).await
    }

    /// Frees a seat's phone (admins).
    async fn unbind_phone(
        &self,
        ctx: &Context<'_>,
        seat: String,
        tenant: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        configure(
            ctx,
            Action::UnbindPhone,
            tenant,
            client_command_id,
            TelephonyCommand::UnbindPhone { seat: SeatId(seat) },
        )
        .await
    }

    /// Puts a caller number on the blacklist (黑名单); its calls are rejected (admins).
    async fn blacklist_number(
        &self,
        ctx: &Context<'_>,
        number: String,
        reason: String,
        tenant: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        let command = TelephonyCommand::BlacklistNumber { number: phone_number("number", &number)?, reason };
        configure(ctx, Action::BlacklistNumber, tenant, client_command_id, command).await
    }

    /// Takes a number off the blacklist (admins).
    async fn remove_from_blacklist(
        &self,
        ctx: &Context<'_>,
        number: String,
        reason: String,
        tenant: Option<String>,
        client_command_id: Option<ID>,
    ) -> Result<TelephonyPayload> {
        let command = TelephonyCommand::RemoveFromBlacklist { number: phone_number("number", &number)?, reason };
        configure(ctx, Action::RemoveFromBlacklist, tenant, client_command_id, command).await
    }
}
