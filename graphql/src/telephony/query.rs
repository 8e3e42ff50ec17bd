//! Telephony queries: calls (a Relay connection), the agent board, call KPIs (接通率, 呼损率, ASA,
//! 服务水平, AHT) and a queue at an instant.
//!
//! Scope: group roles see every tenant; subsidiary roles (admin, supervisor, agent, integration)
//! see their own tenant's calls and agents; station roles see no calls.

use crate::auth::{Caller, Permission, Scope};
use crate::context::{api, caller, china_today, reach, Api, Result};
use crate::error::ApiError;
use crate::kpi::types::BucketSize;
use crate::telephony::types::{
    AgentBoardEntry, Call, CallFilterInput, CallKpiBucket, CallKpiLevel, CallKpiScopeInput, QueueState,
};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use hotline_projections::agents::AgentQueries;
use hotline_projections::call_kpi::{agent_call_totals, call_kpis, CallKpiScope};
use hotline_projections::calls::{CallFilter, CallQueries, CallView};
use hotline_projections::kpi::Bucket;

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

/// The call KPIs of `scope` per bucket over `[from, to)`; FORBIDDEN outside the caller's scope.
pub(crate) async fn call_kpis_for(
    api: &Api,
    caller: &Caller,
    scope: &CallKpiScopeInput,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    bucket: BucketSize,
) -> std::result::Result<Vec<CallKpiBucket>, ApiError> {
    compute_call_kpis(api, &authorized_call_scope(caller, scope)?, from, to, bucket).await
}

/// The call KPI scope `scope` names, if it lies inside the caller's.
pub(crate) fn authorized_call_scope(
    caller: &Caller,
    scope: &CallKpiScopeInput,
) -> std::result::Result<CallKpiScope, ApiError> {
    let group = matches!(caller.scope(), Scope::Group);
    let required = |value: &Option<String>, name: &str| {
        value.clone().ok_or_else(|| ApiError::InvalidInput(format!("scope.{name} is required")))
    };
    Ok(match scope.level {
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
    })
}

/// Call KPIs of an authorized scope.
pub(crate) async fn compute_call_kpis(
    api: &Api,
    scope: &CallKpiScope,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
    bucket: BucketSize,
) -> std::result::Result<Vec<CallKpiBucket>, ApiError> {
    let bucket = match bucket {
        BucketSize::Hour => Bucket::Hour,
        BucketSize::Day => Bucket::Day,
    };
    let kpis = call_kpis(api.runner.read_store().reader(), scope, from, to, bucket).await?;
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
        audit_unmasked_callers(ctx, asked, page.calls.iter().map(|c| c.call_key.clone()).collect())?;
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
        audit_unmasked_callers(ctx, asked, keys)?;
        let calls = |views: Vec<CallView>| views.into_iter().map(|v| Call::from_view(v, caller)).collect();
        Ok(QueueState { tenant, queue, at, waiting: calls(state.waiting), talking: calls(state.talking) })
    }
}

/// Notes that the caller was shown these calls' unmasked numbers, if they asked for them and
/// their role shows numbers in full (DESIGN: reading an unmasked number is an audited event).
fn audit_unmasked_callers(
    ctx: &Context<'_>,
    asked_for_number: bool,
    calls: Vec<String>,
) -> std::result::Result<(), ApiError> {
    let caller = caller(ctx)?;
    if asked_for_number && caller.sees_unmasked_numbers() {
        crate::audit::note(ctx, |reads| reads.unmasked_calls.extend(calls));
    }
    Ok(())
}
