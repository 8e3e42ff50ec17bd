//! Boards many subscribers watch (`kpiBoard`, `callKpiBoard`): computed once per change of the
//! read model and scope, however many watch it.
//!
//! [`SharedBoards`] keeps, per scope being watched, the newest board and the day and log
//! position it is for; the first subscriber to reach a change computes it, the others wait for
//! that and share it. An entry lives while anyone watches its scope, so the map never holds more
//! than the subscriptions running (which `websocket` caps).

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OnceCell;

/// A board being computed or computed; `None` when reading the read model failed (logged).
type Board<V> = Arc<OnceCell<Option<V>>>;

/// The day (its start) and log position a board is for.
pub(crate) type BoardAt = (DateTime<Utc>, u64);

/// The boards being watched, by scope. Cloning shares them.
pub struct SharedBoards<K, V>(Arc<Mutex<HashMap<K, Watched<V>>>>);

impl<K, V> Clone for SharedBoards<K, V> {
    fn clone(&self) -> Self {
        SharedBoards(Arc::clone(&self.0))
    }
}

impl<K, V> Default for SharedBoards<K, V> {
    fn default() -> Self {
        SharedBoards(Arc::default())
    }
}

struct Watched<V> {
    subscribers: usize,
    latest: Option<(BoardAt, Board<V>)>,
}

/// One subscriber's hold on its scope's entry; the last one to drop removes it.
pub(crate) struct Watcher<K: Eq + Hash + Clone, V> {
    boards: SharedBoards<K, V>,
    /// The scope watched.
    pub(crate) scope: K,
}

impl<K: Eq + Hash + Clone, V: Clone> SharedBoards<K, V> {
    /// Starts watching `scope`.
    pub(crate) fn watch(&self, scope: K) -> Watcher<K, V> {
        let mut boards = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        boards.entry(scope.clone()).or_insert(Watched { subscribers: 0, latest: None }).subscribers += 1;
        Watcher { boards: self.clone(), scope }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Watcher<K, V> {
    /// The board for `at` (or a newer one another subscriber already started): computed by
    /// `compute` if nobody has, else shared. `None` when computing it failed.
    pub(crate) async fn board<F>(&self, at: BoardAt, compute: F) -> Option<V>
    where
        F: std::future::Future<Output = Option<V>>,
    {
        let board = {
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
        };
        board.get_or_init(|| compute).await.clone()
    }
}

impl<K: Eq + Hash + Clone, V> Drop for Watcher<K, V> {
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
