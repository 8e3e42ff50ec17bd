//! Folded states of long streams, in memory: a command on a stream with a long history (an
//! agent's status changes, a tenant's telephony configuration) folds only the events after the
//! state it folded last time, instead of the whole stream.
//!
//! A snapshot is only a shortcut: every load still reads the stream's tail from the snapshot's
//! version on, so the state it gives is always the log's current one, whoever appended. Nothing
//! is persisted; a restart begins empty. Only streams at [`Snapshots::MIN_VERSION`] events or more
//! are kept, at most `capacity` of them, the least recently used going first.

use crate::store::StreamId;
use hotline_domain::Decider;
use std::any::Any;
use std::sync::{Arc, Mutex};

/// A folded state (of whichever decider the stream's category has) and its stream version.
type Snapshot = (Arc<dyn Any + Send + Sync>, u64);

/// The snapshot cache of one [`crate::Hotline`].
pub struct Snapshots {
    cache: Mutex<hashlink::LruCache<StreamId, Snapshot>>,
}

impl Snapshots {
    /// Streams shorter than this are folded from their start: reading them is cheap already.
    pub const MIN_VERSION: u64 = 64;

    /// At most `capacity` streams' states.
    pub fn new(capacity: usize) -> Snapshots {
        Snapshots { cache: Mutex::new(hashlink::LruCache::new(capacity)) }
    }

    /// The state last folded for `stream` and its version, if kept.
    pub fn get<D: Decider>(&self, stream: &StreamId) -> Option<(D::State, u64)>
    where
        D::State: 'static,
    {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (state, version) = cache.get(stream)?;
        Some((state.downcast_ref::<D::State>()?.clone(), *version))
    }

    /// Keeps `state` as `stream`'s at `version`, when the stream is long enough to be worth it and
    /// nothing newer is kept.
    pub fn put<D: Decider>(&self, stream: &StreamId, state: &D::State, version: u64)
    where
        D::State: 'static,
    {
        if version < Self::MIN_VERSION {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.peek(stream).is_some_and(|(_, kept)| *kept >= version) {
            return;
        }
        cache.insert(stream.clone(), (Arc::new(state.clone()), version));
    }

    /// How many streams' states are kept.
    pub fn len(&self) -> usize {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
