//! The telephony read side of the API: calls, the agent board, call KPIs, a queue at an instant,
//! and the screen pop (弹屏) that follows the signed-in agent.
//!
//! Scope: group roles see every tenant; subsidiary roles (admin, supervisor, agent, integration)
//! see their own tenant's calls and agents; station roles see no calls. Caller numbers are masked
//! exactly as ticket numbers are, unless the role may see them.

use crate::auth::{Caller, Permission, Scope};
use crate::error::ApiError;
use crate::schema::{api, caller, china_today, label, next_batch, reach, shown_number};
use crate::schema::{BucketSize, Customer, Ticket};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use hotline_domain::call::CallEvent;
use hotline_domain::EventCodec;
use hotline_projections::agents::{agent_status_code, AgentQueries, AgentView};
use hotline_projections::call_kpi::{agent_call_totals, call_kpis, CallKpiScope, CallKpis};
use hotline_projections::calls::{CallFilter, CallQueries, CallView};
use hotline_projections::customers::CustomerQueries;
use hotline_projections::kpi::Bucket;
use hotline_projections::tickets::TicketQueries;

type Result<T> = std::result::Result<T, async_graphql::Error>;

/// Open tickets and recent calls a screen pop shows at most.
pub const SCREEN_POP_LIMIT: u32 = 5;

/// A call (来电).
#[derive(SimpleObject, Clone, Debug)]
pub struct Call {
    /// The call's key.
    id: ID,
    /// Subsidiary.
    tenant: String,
    /// Queue it was routed to.
    queue: Option<String>,
    /// The caller's number, masked (`138****5678`) unless the caller's role may see it.
    caller_number: String,
    /// The number dialled.
    dialled: String,
    /// `call_status` code; `statusLabel` is its zh-CN label.
    status: String,
    /// zh-CN label of the status.
    status_label: String,
    /// `call_outcome` code once known (`answered`, `abandoned`, `short_abandoned`, …).
    outcome: Option<String>,
    /// zh-CN label of the outcome.
    outcome_label: Option<String>,
    /// When it came in.
    offered_at: DateTime<Utc>,
    /// When it was first answered.
    answered_at: Option<DateTime<Utc>>,
    /// When it finished, however it finished.
    ended_at: Option<DateTime<Utc>>,
    /// When the caller gave up.
    abandoned_at: Option<DateTime<Utc>>,
    /// Seconds waited before the first answer (or the end).
    wait_seconds: Option<i64>,
    /// Talk seconds, once ended.
    talk_seconds: Option<i64>,
    /// Hold seconds so far.
    hold_seconds: i64,
    /// Answered within the queue's service level.
    within_service_level: Option<bool>,
    /// The abandon was short (短时放弃).
    short_abandon: Option<bool>,
    /// The phone on the call.
    extension: Option<String>,
    /// Its seat.
    seat: Option<String>,
    /// Its agent.
    agent: Option<String>,
    /// Where it was transferred.
    transferred_to: Option<String>,
    /// Log position of its last change.
    last_position: i64,
}

impl Call {
    fn from_view(view: CallView, caller: &Caller) -> Call {
        Call {
            id: ID(view.call_key),
            tenant: view.tenant.0,
            queue: view.queue,
            caller_number: shown_number(caller, view.caller),
            dialled: view.dialled,
            status_label: label("call_status", view.status.code()),
            status: view.status.code().to_owned(),
            outcome_label: view.outcome.as_deref().map(|o| label("call_outcome", o)),
            outcome: view.outcome,
            offered_at: view.offered_at,
            answered_at: view.answered_at,
            ended_at: view.ended_at,
            abandoned_at: view.abandoned_at,
            wait_seconds: view.wait_seconds,
            talk_seconds: view.talk_seconds,
            hold_seconds: view.hold_seconds,
            within_service_level: view.within_service_level,
            short_abandon: view.short_abandon,
            extension: view.extension,
            seat: view.seat,
            agent: view.agent,
            transferred_to: view.transferred_to,
            last_position: view.last_position,
        }
    }
}

/// Filters of the call list.
#[derive(InputObject, Default, Debug)]
pub struct CallFilterInput {
    /// Subsidiary; only group roles choose another than their own.
    tenant: Option<String>,
    /// Queue.
    queue: Option<String>,
    /// Agent on the call.
    agent: Option<String>,
    /// `call_status` code.
    status: Option<String>,
    /// Offered at or after.
    from: Option<DateTime<Utc>>,
    /// Offered before.
    to: Option<DateTime<Utc>>,
}

/// One agent on the board (坐席监控).
#[derive(SimpleObject, Clone, Debug)]
pub struct AgentBoardEntry {
    /// The agent's user id.
    agent: String,
    /// Subsidiary.
    tenant: String,
    /// Seat while signed in.
    seat: Option<String>,
    /// `agent_status` code (`idle`, `busy`, `wrap_up`, `away`, `signed_out`).
    status: String,
    /// zh-CN label of the status.
    status_label: String,
    /// Since when.
    since: DateTime<Utc>,
    /// Whether signed in.
    signed_in: bool,
    /// The phone bound to the seat.
    extension: Option<String>,
    /// Whether that phone is registered (online); false without one.
    phone_online: bool,
    /// zh-CN label of the phone's state (在线 / 离线).
    phone_status_label: String,
    /// Calls put through to the agent today (China Standard Time).
    calls_today: i64,
    /// Of those, answered.
    answered_today: i64,
    /// answered ÷ calls put through, today.
    answer_rate: Option<f64>,
    /// Mean talk seconds of today's handled calls.
    average_talk_seconds: Option<f64>,
}

impl AgentBoardEntry {
    fn new(view: AgentView, today: Option<&CallKpis>) -> AgentBoardEntry {
        let online = view.phone_registered == Some(true);
        let status = agent_status_code(view.status);
        AgentBoardEntry {
            agent: view.agent,
            tenant: view.tenant.0,
            seat: view.seat,
            status_label: label("agent_status", status),
            status: status.to_owned(),
            since: view.since,
            signed_in: view.signed_in,
            extension: view.extension,
            phone_online: online,
            phone_status_label: label("phone_status", if online { "registered" } else { "unregistered" }),
            calls_today: today.map_or(0, |k| k.presented),
            answered_today: today.map_or(0, |k| k.answered),
            answer_rate: today.and_then(CallKpis::presented_answer_rate),
            average_talk_seconds: today.and_then(CallKpis::average_talk_time),
        }
    }
}

/// Call KPI levels.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CallKpiLevel {
    /// The whole group.
    Group,
    /// One subsidiary.
    Subsidiary,
    /// One queue of a subsidiary.
    Queue,
    /// One agent.
    Agent,
}

/// Whose call KPIs.
#[derive(InputObject, Debug, Clone)]
pub struct CallKpiScopeInput {
    /// `GROUP`, `SUBSIDIARY`, `QUEUE` or `AGENT`.
    level: CallKpiLevel,
    /// The subsidiary (`SUBSIDIARY`, `QUEUE`; narrows `AGENT`); defaults to the caller's.
    tenant: Option<String>,
    /// The queue (`QUEUE`).
    queue: Option<String>,
    /// The agent's user id (`AGENT`).
    agent: Option<String>,
}

/// One KPI figure with its zh-CN label.
#[derive(SimpleObject, Clone, Debug)]
pub struct KpiFigure {
    /// Code (`answer_rate`, `abandon_rate`, `asa`, `service_level`, `aht`).
    code: String,
    /// zh-CN label (接通率, 呼损率, …).
    label: String,
    /// The value: a share from 0 to 1, or seconds for `asa` and `aht`; null without calls.
    value: Option<f64>,
}

/// Call KPIs of one time bucket (China Standard Time).
#[derive(SimpleObject, Clone, Debug)]
pub struct CallKpiBucket {
    /// `YYYY-MM-DD` or `YYYY-MM-DDTHH`.
    bucket: String,
    /// Calls offered (blacklisted ones excluded).
    offered: i64,
    /// Calls refused because the caller is blacklisted.
    blacklisted: i64,
    /// Calls put through to an agent.
    presented: i64,
    /// First answers.
    answered: i64,
    /// Of those, within the queue's service-level T.
    answered_within_service_level: i64,
    /// Calls the caller gave up before an answer (short ones included).
    abandoned: i64,
    /// Of those, short abandons (短时放弃).
    short_abandoned: i64,
    /// Answered calls hung up.
    handled: i64,
    /// 接通率: answered ÷ offered.
    answer_rate: Option<f64>,
    /// An agent's answer rate: answered ÷ presented.
    presented_answer_rate: Option<f64>,
    /// 呼损率: abandoned ÷ offered.
    abandon_rate: Option<f64>,
    /// ASA: mean wait of answered calls, seconds.
    average_speed_of_answer: Option<f64>,
    /// 服务水平: answered within T ÷ answered.
    service_level: Option<f64>,
    /// AHT: (talk + hold + wrap-up) ÷ handled, seconds.
    average_handling_time: Option<f64>,
    /// Mean talk seconds of handled calls.
    average_talk_time: Option<f64>,
    /// The KPIs with their zh-CN labels, for boards.
    figures: Vec<KpiFigure>,
}

impl From<CallKpis> for CallKpiBucket {
    fn from(k: CallKpis) -> CallKpiBucket {
        let figure = |code: &str, value| KpiFigure { code: code.to_owned(), label: label("kpi", code), value };
        CallKpiBucket {
            figures: vec![
                figure("answer_rate", k.answer_rate()),
                figure("abandon_rate", k.abandon_rate()),
                figure("asa", k.average_speed_of_answer()),
                figure("service_level", k.service_level()),
                figure("aht", k.average_handling_time()),
            ],
            answer_rate: k.answer_rate(),
            presented_answer_rate: k.presented_answer_rate(),
            abandon_rate: k.abandon_rate(),
            average_speed_of_answer: k.average_speed_of_answer(),
            service_level: k.service_level(),
            average_handling_time: k.average_handling_time(),
            average_talk_time: k.average_talk_time(),
            offered: k.offered,
            blacklisted: k.blacklisted,
            presented: k.presented,
            answered: k.answered,
            answered_within_service_level: k.answered_within_service_level,
            abandoned: k.abandoned,
            short_abandoned: k.short_abandoned,
            handled: k.handled,
            bucket: k.bucket,
        }
    }
}

/// A queue at an instant.
#[derive(SimpleObject, Clone, Debug)]
pub struct QueueState {
    /// Subsidiary.
    tenant: String,
    /// Queue.
    queue: String,
    /// The instant.
    at: DateTime<Utc>,
    /// Calls waiting then (offered, neither answered nor finished), longest waiting first.
    waiting: Vec<Call>,
    /// Calls talking then (answered, not finished).
    talking: Vec<Call>,
}

/// What the agent's screen shows when a call rings or is answered at their seat (弹屏).
#[derive(SimpleObject, Clone, Debug)]
pub struct ScreenPop {
    /// What happened: `CallRinging` or `CallAnswered`.
    trigger: String,
    /// The call, its number masked by role.
    call: Call,
    /// Customers of the tenant reachable at the caller's number, with their premises' addresses.
    customers: Vec<Customer>,
    /// Their open tickets (by the number or the customers), newest first.
    open_tickets: Vec<Ticket>,
    /// The caller's latest earlier calls, newest first.
    recent_calls: Vec<Call>,
}

/// The tenants whose calls and agents the caller sees (`None`: all).
fn call_tenants(caller: &Caller) -> Option<Vec<String>> {
    match caller.scope() {
        Scope::Group => None,
        Scope::Tenant(tenant) => Some(vec![tenant]),
        Scope::Subtree { .. } | Scope::Nothing => Some(vec![]),
    }
}

/// The one tenant asked for, or the caller's; FORBIDDEN outside the caller's scope.
fn one_tenant(caller: &Caller, asked: Option<String>) -> std::result::Result<String, ApiError> {
    let tenant = match (asked, caller.scope()) {
        (Some(tenant), _) => tenant,
        (None, Scope::Tenant(tenant)) => tenant,
        (None, _) => return Err(ApiError::InvalidInput("tenant is required".into())),
    };
    match call_tenants(caller) {
        Some(tenants) if !tenants.contains(&tenant) => {
            Err(ApiError::Forbidden(format!("tenant {tenant}'s calls are outside your scope")))
        }
        _ => Ok(tenant),
    }
}

async fn call_kpis_for(
    api: &crate::schema::Api,
    caller: &Caller,
    scope: &CallKpiScopeInput,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    bucket: BucketSize,
) -> std::result::Result<Vec<CallKpiBucket>, ApiError> {
    let group = matches!(caller.scope(), Scope::Group);
    let required = |value: &Option<String>, name: &str| {
        value.clone().ok_or_else(|| ApiError::InvalidInput(format!("scope.{name} is required")))
    };
    let kpi_scope = match scope.level {
        CallKpiLevel::Group if group => CallKpiScope::Group,
        CallKpiLevel::Group => return Err(ApiError::Forbidden("group call KPIs are outside your scope".into())),
        CallKpiLevel::Subsidiary => CallKpiScope::Tenant(one_tenant(caller, scope.tenant.clone())?),
        CallKpiLevel::Queue => CallKpiScope::Queue {
            tenant: one_tenant(caller, scope.tenant.clone())?,
            queue: required(&scope.queue, "queue")?,
        },
        CallKpiLevel::Agent => {
            let agent = required(&scope.agent, "agent")?;
            if !group && !caller.may(Permission::Supervise) && agent != caller.user {
                return Err(ApiError::Forbidden("another agent's KPIs are for supervisors".into()));
            }
            let tenant =
                if group && scope.tenant.is_none() { None } else { Some(one_tenant(caller, scope.tenant.clone())?) };
            CallKpiScope::Agent { agent, tenant }
        }
    };
    let bucket = match bucket {
        BucketSize::Hour => Bucket::Hour,
        BucketSize::Day => Bucket::Day,
    };
    let kpis = call_kpis(api.runner.read_store().reader(), &kpi_scope, from, to, bucket).await?;
    Ok(kpis.into_iter().map(CallKpiBucket::from).collect())
}

/// Telephony queries, merged into the query root.
#[derive(Default)]
pub struct TelephonyQuery;

#[Object]
impl TelephonyQuery {
    /// Calls in the caller's scope, oldest first (Relay connection; cursors are opaque). Its
    /// complexity is `first` × the selection's.
    #[graphql(complexity = "first.max(1) as usize * child_complexity")]
    async fn calls(
        &self,
        ctx: &Context<'_>,
        filter: Option<CallFilterInput>,
        #[graphql(default = 20, validator(minimum = 1, maximum = 200))] first: i32,
        after: Option<String>,
        after_position: Option<u64>,
    ) -> Result<Connection<String, Call>> {
        reach(ctx, after_position).await?;
        let caller = caller(ctx)?;
        let filter = filter.unwrap_or_default();
        let after = match after {
            Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| ApiError::InvalidInput("malformed cursor".into()))?),
            None => None,
        };
        let tenants = match filter.tenant {
            Some(tenant) => Some(vec![one_tenant(caller, Some(tenant))?]),
            None => call_tenants(caller),
        };
        let query = CallFilter {
            tenants,
            queue: filter.queue,
            agent: filter.agent,
            status: filter.status,
            from: filter.from,
            to: filter.to,
        };
        let page = CallQueries(api(ctx).runner.read_store().reader())
            .list(&query, first as u32, after)
            .await
            .map_err(ApiError::from)?;
        let asked = ctx.look_ahead().field("edges").field("node").field("callerNumber").exists();
        audit_unmasked_callers(ctx, asked, page.calls.iter().map(|c| c.call_key.clone()).collect()).await?;
        let mut connection = Connection::new(after.is_some(), page.has_next_page);
        for view in page.calls {
            let cursor = view.offered_position.to_string();
            connection.edges.push(Edge::new(cursor, Call::from_view(view, caller)));
        }
        Ok(connection)
    }

    /// The agents of the caller's tenant (every tenant's, or `tenant`'s, for group roles): status,
    /// seat, phone online or not, and today's calls (China Standard Time).
    async fn agent_board(
        &self,
        ctx: &Context<'_>,
        tenant: Option<String>,
        after_position: Option<u64>,
    ) -> Result<Vec<AgentBoardEntry>> {
        reach(ctx, after_position).await?;
        let caller = caller(ctx)?;
        let tenants = match tenant {
            Some(tenant) => Some(vec![one_tenant(caller, Some(tenant))?]),
            None => call_tenants(caller),
        };
        let reader = api(ctx).runner.read_store().reader();
        let board = AgentQueries(reader).board(tenants.as_deref()).await.map_err(ApiError::from)?;
        let (from, to) = china_today(api(ctx).hotline.clock().now());
        let totals = agent_call_totals(reader, tenants.as_deref(), &from, &to).await.map_err(ApiError::from)?;
        Ok(board
            .into_iter()
            .map(|view| {
                let today = totals.get(&view.agent);
                AgentBoardEntry::new(view, today)
            })
            .collect())
    }

    /// Call KPIs (接通率, 呼损率, ASA, 服务水平, AHT) per bucket over `[from, to)`.
    async fn call_kpis(
        &self,
        ctx: &Context<'_>,
        scope: CallKpiScopeInput,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default_with = "BucketSize::Day")] bucket: BucketSize,
    ) -> Result<Vec<CallKpiBucket>> {
        Ok(call_kpis_for(api(ctx), caller(ctx)?, &scope, &from, &to, bucket).await?)
    }

    /// A queue at an instant (now by default): the calls waiting and talking then.
    async fn queue_state(
        &self,
        ctx: &Context<'_>,
        queue: String,
        at: Option<DateTime<Utc>>,
        tenant: Option<String>,
    ) -> Result<QueueState> {
        let caller = caller(ctx)?;
        let tenant = one_tenant(caller, tenant)?;
        let at = at.unwrap_or_else(|| api(ctx).hotline.clock().now());
        let state = CallQueries(api(ctx).runner.read_store().reader())
            .queue_state(&tenant, &queue, &at)
            .await
            .map_err(ApiError::from)?;
        let look = ctx.look_ahead();
        let asked = look.field("waiting").field("callerNumber").exists()
            || look.field("talking").field("callerNumber").exists();
        let keys = state.waiting.iter().chain(&state.talking).map(|c| c.call_key.clone()).collect();
        audit_unmasked_callers(ctx, asked, keys).await?;
        let calls = |views: Vec<CallView>| views.into_iter().map(|v| Call::from_view(v, caller)).collect();
        Ok(QueueState { tenant, queue, at, waiting: calls(state.waiting), talking: calls(state.talking) })
    }
}

/// Records that the caller was shown these calls' unmasked numbers, if they asked for them and
/// their role shows numbers in full (DESIGN: reading an unmasked number is an audited event).
async fn audit_unmasked_callers(
    ctx: &Context<'_>,
    asked_for_number: bool,
    calls: Vec<String>,
) -> std::result::Result<(), ApiError> {
    let caller = caller(ctx)?;
    if !asked_for_number || !caller.sees_unmasked_numbers() || calls.is_empty() {
        return Ok(());
    }
    let context =
        hotline_commands::handler::CommandContext::new(&caller.user, "graphql", api(ctx).hotline.clock().now());
    let event = hotline_domain::audit::AuditEvent::UnmaskedCallersRead { calls, reader: caller.user.clone() };
    api(ctx).hotline.record_audit(&context, event).await?;
    Ok(())
}

/// The screen pop for one call event naming the agent.
async fn screen_pop(
    api: &crate::schema::Api,
    caller: &Caller,
    trigger: &str,
    call_key: &str,
) -> std::result::Result<Option<ScreenPop>, ApiError> {
    let reader = api.runner.read_store().reader();
    let Some(view) = CallQueries(reader).by_key(call_key).await? else { return Ok(None) };
    let customers: Vec<_> =
        CustomerQueries(reader).by_phone(&view.caller).await?.into_iter().filter(|c| c.tenant == view.tenant).collect();
    let customer_ids: Vec<String> = customers.iter().map(|c| c.customer_id.to_string()).collect();
    let now = api.hotline.clock().now();
    let tickets =
        TicketQueries(reader).open_for_caller(&view.tenant.0, &view.caller, &customer_ids, SCREEN_POP_LIMIT).await?;
    let recent = CallQueries(reader).recent_by_caller(&view.tenant.0, &view.caller, SCREEN_POP_LIMIT + 1).await?;
    let recent_calls = recent
        .into_iter()
        .filter(|c| c.call_key != view.call_key)
        .take(SCREEN_POP_LIMIT as usize)
        .map(|c| Call::from_view(c, caller))
        .collect();
    Ok(Some(ScreenPop {
        trigger: trigger.to_owned(),
        call: Call::from_view(view, caller),
        customers: customers.into_iter().map(Customer::from).collect(),
        open_tickets: tickets.into_iter().map(|t| Ticket::from_view(t, caller, &now)).collect(),
        recent_calls,
    }))
}

/// Telephony subscriptions, merged into the subscription root.
#[derive(Default)]
pub struct TelephonySubscription;

#[Subscription]
impl TelephonySubscription {
    /// The screen pop (弹屏) of the authenticated agent (the token's subject): each time a call
    /// rings at them or they answer one (`CallRinging` / `CallAnswered` naming them as `agent`),
    /// once the call read model shows it.
    async fn screen_pop(&self, ctx: &Context<'_>) -> Result<impl futures_util::Stream<Item = ScreenPop>> {
        let caller = caller(ctx)?.clone();
        let api = api(ctx).clone();
        let feed = api.runner.subscribe();
        let stream = futures_util::stream::unfold((feed, api, caller), |(mut feed, api, caller)| async move {
            loop {
                let batch = next_batch(&mut feed, "calls").await?;
                let mut pops = Vec::new();
                for event in batch.events.iter().filter(|e| e.stream_id.category() == "call") {
                    if !matches!(event.event_type.as_str(), "CallRinging" | "CallAnswered") {
                        continue;
                    }
                    let Ok(decoded) = CallEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                    else {
                        continue;
                    };
                    let (CallEvent::Ringing { tenant, agent: Some(agent), .. }
                    | CallEvent::Answered { tenant, agent: Some(agent), .. }) = &decoded
                    else {
                        continue;
                    };
                    if agent.0 != caller.user || !caller.sees(&tenant.0, None) {
                        continue;
                    }
                    let key = event.stream_id.id();
                    match screen_pop(&api, &caller, &event.event_type, key).await {
                        Ok(Some(pop)) => pops.push(pop),
                        Ok(None) => {}
                        Err(error) => tracing::warn!(code = error.code(), "screen pop skipped"),
                    }
                }
                if !pops.is_empty() {
                    return Some((futures_util::stream::iter(pops), (feed, api, caller)));
                }
            }
        });
        Ok(futures_util::StreamExt::flatten(stream))
    }

    /// Today's call KPIs (China Standard Time) for a scope, each time the call counters change.
    async fn call_kpi_board(
        &self,
        ctx: &Context<'_>,
        scope: CallKpiScopeInput,
    ) -> Result<impl futures_util::Stream<Item = Vec<CallKpiBucket>>> {
        let caller = caller(ctx)?.clone();
        let api = api(ctx).clone();
        // Refuse a scope the caller may not see now, not at the first change.
        let (from, to) = china_today(api.hotline.clock().now());
        call_kpis_for(&api, &caller, &scope, &from, &to, BucketSize::Day).await?;
        let feed = api.runner.subscribe();
        Ok(futures_util::stream::unfold((feed, api, caller, scope), |(mut feed, api, caller, scope)| async move {
            next_batch(&mut feed, "call_kpis").await?;
            let (from, to) = china_today(api.hotline.clock().now());
            let board = call_kpis_for(&api, &caller, &scope, &from, &to, BucketSize::Day).await.unwrap_or_default();
            Some((board, (feed, api, caller, scope)))
        }))
    }
}
