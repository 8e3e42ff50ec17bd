//! The KPI board subscription: today's ticket KPIs (China Standard Time), each time tickets
//! change.
//!
//! A board is computed once per change of the tickets read model and scope, however many watch
//! it: [`KpiBoards`] keeps, per scope being watched, the newest board and the log position it is
//! for; the first subscriber to reach a change computes it, the others wait for that and share
//! it. [`kpi_board_computations`] counts the computations (`/metrics`).

use crate::context::{api, caller, china_today, next_batch, Result};
use crate::kpi::query::{authorized_scope, compute_kpis};
use crate::kpi::types::{BucketSize, KpiScopeInput, TicketKpiBucket};
use async_graphql::Context;
use chrono::{DateTime, Utc};
use hotline_projections::kpi::KpiScope;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OnceCell;

static COMPUTATIONS: AtomicU64 = AtomicU64::new(0);

/// How many boards `kpiBoard` has computed in this process: one per change of the tickets read
/// model and scope being watched, however many subscribers watch that scope.
pub fn kpi_board_computations() -> u64 {
    COMPUTATIONS.load(Ordering::Relaxed)
}

/// A board being computed or computed; `None` when reading the read model failed (logged).
type Board = Arc<OnceCell<Option<Vec<TicketKpiBucket>>>>;

/// The day (its start) and log position a board is for.
type BoardAt = (DateTime<Utc>, u64);

/// The boards being watched: an entry per scope while anyone subscribes to it, so the map never
/// holds more than the subscriptions running (which `websocket` caps).
#[derive(Clone, Default)]
pub struct KpiBoards(Arc<Mutex<HashMap<KpiScope, Watched>>>);

struct Watched {
    subscribers: usize,
    latest: Option<(BoardAt, Board)>,
}

/// One subscriber's hold on its scope's entry; the last one to drop removes it.
struct Watcher {
    boards: KpiBoards,
    scope: KpiScope,
}

impl KpiBoards {
    fn watch(&self, scope: KpiScope) -> Watcher {
        let mut boards = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        boards.entry(scope.clone()).or_insert(Watched { subscribers: 0, latest: None }).subscribers += 1;
        Watcher { boards: self.clone(), scope }
    }
}

impl Watcher {
    /// The board for `at`, or a newer one another subscriber already started.
    fn board(&self, at: BoardAt) -> Board {
        let mut boards = self.boards.0.lock().unwrap_or_else(PoisonError::into_inner);
        let watched = boards.entry(self.scope.clone()).or_insert_with(|| Watched { subscribers: 1, latest: None });
        match &watched.latest {
            Some((newest, board)) if *newest >= at => Arc::clone(board),
            _ => {
                let board = Board::default();
                watched.latest = Some((at, Arc::clone(&board)));
                board
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let mut boards = self.boards.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(watched) = boards.get_mut(&self.scope) {
            watched.subscribers = watched.subscribers.saturating_sub(1);
            if watched.subscribers == 0 {
                boards.remove(&self.scope);
            }
        }
    }
}

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
                let board = watcher.board((from, position));
                let computed = board
                    .get_or_init(|| async {
                        COMPUTATIONS.fetch_add(1, Ordering::Relaxed);
                        compute_kpis(&api, &watcher.scope, &from, &to, BucketSize::Day).await.ok()
                    })
                    .await
                    .clone();
                if let Some(board) = computed {
                    return Some((board, (feed, api, watcher)));
                }
            }
        }))
    }
}
