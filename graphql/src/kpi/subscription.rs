//! The KPI board subscription: today's ticket KPIs (China Standard Time), each time tickets
//! change.
//!
//! A board is computed once per change of the tickets read model and scope, however many watch
//! it ([`KpiBoards`], see `crate::boards`). [`kpi_board_computations`] counts the computations
//! (`/metrics`).

use crate::boards::SharedBoards;
use crate::context::{api, caller, china_today, next_batch, Result};
use crate::kpi::query::{authorized_scope, compute_kpis};
use crate::kpi::types::{BucketSize, KpiScopeInput, TicketKpiBucket};
use async_graphql::Context;
use hotline_projections::kpi::KpiScope;
use std::sync::atomic::{AtomicU64, Ordering};

static COMPUTATIONS: AtomicU64 = AtomicU64::new(0);

/// How many boards `kpiBoard` has computed in this process: one per change of the tickets read
/// model and scope being watched, however many subscribers watch that scope.
pub fn kpi_board_computations() -> u64 {
    COMPUTATIONS.load(Ordering::Relaxed)
}

/// The ticket KPI boards being watched, one per scope.
pub type KpiBoards = SharedBoards<KpiScope, Vec<TicketKpiBucket>>;

/// Subscriptions over ticket KPIs.
#[derive(Default)]
pub struct KpiSubscription;

#[async_graphql::Subscription]
impl KpiSubscription {
    /// Today's ticket KPIs (China Standard Time) for a scope, each time tickets change.
    async fn kpi_board(
        &self,
        ctx: &Context<'_>,
        scope: KpiScopeInput,
    ) -> Result<impl futures_util::Stream<Item = Vec<TicketKpiBucket>>> {
        let caller = caller(ctx)?;
        let api = api(ctx).clone();
        // Refuse a scope the caller may not see now, not at the first change. It is not asked
        // again at each change: the board is shared, and the token's expiry ends the
        // subscription.
        let kpi_scope = authorized_scope(&api, caller, &scope).await?;
        // Always in the schema's data (`build_schema`).
        let watcher = ctx.data_unchecked::<KpiBoards>().watch(kpi_scope);
        let feed = api.runner.subscribe();
        Ok(futures_util::stream::unfold((feed, api, watcher), |(mut feed, api, watcher)| async move {
            loop {
                let batch = next_batch(&mut feed, "tickets").await?;
                let position = batch.events.last().map_or(0, |event| event.global_position);
                let (from, to) = china_today(api.hotline.clock().now());
                let computed = watcher
                    .board((from, position), async {
                        COMPUTATIONS.fetch_add(1, Ordering::Relaxed);
                        compute_kpis(&api, &watcher.scope, &from, &to, BucketSize::Day).await.ok()
                    })
                    .await;
                if let Some(board) = computed {
                    return Some((board, (feed, api, watcher)));
                }
            }
        }))
    }
}
