//! The KPI board subscription: today's ticket KPIs (China Standard Time), each time tickets
//! change.

use crate::context::{api, caller, china_today, next_batch, Result};
use crate::kpi::query::kpis_for;
use crate::kpi::types::{BucketSize, KpiScopeInput, TicketKpiBucket};
use async_graphql::Context;

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
        let caller = caller(ctx)?.clone();
        let api = api(ctx).clone();
        let today = china_today;
        // Refuse a scope the caller may not see now, not at the first change.
        let (from, to) = today(api.hotline.clock().now());
        kpis_for(&api, &caller, &scope, &from, &to, BucketSize::Day).await?;
        let feed = api.runner.subscribe();
        Ok(futures_util::stream::unfold((feed, api, caller, scope), move |(mut feed, api, caller, scope)| async move {
            next_batch(&mut feed, "tickets").await?;
            let (from, to) = today(api.hotline.clock().now());
            let board = kpis_for(&api, &caller, &scope, &from, &to, BucketSize::Day).await.unwrap_or_default();
            Some((board, (feed, api, caller, scope)))
        }))
    }
}
