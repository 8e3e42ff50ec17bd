//! Telephony subscriptions: the agent's screen pop (弹屏), fed by the `calls` projection's
//! committed batches, and the call KPI board (computed once per change, see `crate::boards`).

use crate::auth::Caller;
use crate::boards::SharedBoards;
use crate::context::{api, caller, china_today, next_batch, Api, Result};
use crate::customers::Customer;
use crate::error::ApiError;
use crate::kpi::types::BucketSize;
use crate::telephony::query::{authorized_call_scope, compute_call_kpis};
use crate::telephony::types::{Call, CallKpiBucket, CallKpiScopeInput, ScreenPop};
use crate::tickets::types::Ticket;
use async_graphql::{Context, Subscription};
use hotline_domain::call::CallEvent;
use hotline_domain::EventCodec;
use hotline_projections::call_kpi::CallKpiScope;
use hotline_projections::calls::CallQueries;
use hotline_projections::customers::CustomerQueries;
use hotline_projections::tickets::TicketQueries;
use std::sync::atomic::{AtomicU64, Ordering};

static CALL_BOARD_COMPUTATIONS: AtomicU64 = AtomicU64::new(0);

/// How many boards `callKpiBoard` has computed in this process: one per change of the call KPI
/// read model and scope being watched, however many subscribers watch that scope.
pub fn call_kpi_board_computations() -> u64 {
    CALL_BOARD_COMPUTATIONS.load(Ordering::Relaxed)
}

/// The call KPI boards being watched, one per scope.
pub type CallKpiBoards = SharedBoards<CallKpiScope, Vec<CallKpiBucket>>;

/// Open tickets and recent calls a screen pop shows at most.
pub const SCREEN_POP_LIMIT: u32 = 5;

/// The screen pop for one call event naming the agent.
async fn screen_pop(
    api: &Api,
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
    /// Computed once per change and scope, however many watch it.
    async fn call_kpi_board(
        &self,
        ctx: &Context<'_>,
        scope: CallKpiScopeInput,
    ) -> Result<impl futures_util::Stream<Item = Vec<CallKpiBucket>>> {
        let caller = caller(ctx)?;
        let api = api(ctx).clone();
        // Refuse a scope the caller may not see now, not at the first change; the board is
        // shared, and the token's expiry ends the subscription.
        let call_scope = authorized_call_scope(caller, &scope)?;
        // Always in the schema's data (`build_schema`).
        let watcher = ctx.data_unchecked::<CallKpiBoards>().watch(call_scope);
        let feed = api.runner.subscribe();
        Ok(futures_util::stream::unfold((feed, api, watcher), |(mut feed, api, watcher)| async move {
            loop {
                let batch = next_batch(&mut feed, "call_kpis").await?;
                let position = batch.events.last().map_or(0, |event| event.global_position);
                let (from, to) = china_today(api.hotline.clock().now());
                let computed = watcher
                    .board((from, position), async {
                        CALL_BOARD_COMPUTATIONS.fetch_add(1, Ordering::Relaxed);
                        compute_call_kpis(&api, &watcher.scope, &from, &to, BucketSize::Day).await.ok()
                    })
                    .await;
                if let Some(board) = computed {
                    return Some((board, (feed, api, watcher)));
                }
            }
        }))
    }
}
