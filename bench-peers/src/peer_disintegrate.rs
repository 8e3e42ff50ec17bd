//! `disintegrate` 4 with `disintegrate-postgres` 4.0.1: a `Dispatch` decision over a
//! `DispatchState` state query, made by `disintegrate_postgres::decision_maker` on a
//! `PgEventStore` over the library's own schema ([`EVENT_STORE_SCHEMA`]: the `event` table, its
//! sequence, the epoch functions, a `ticket_id` column for the event's `#[id]` field).
//!
//! What the library does per decision (`DecisionMaker::make`): read the events matching the state
//! query up to the current "epoch" (the highest committed `event_id`, held below any id an
//! in-flight writer may still commit), fold them, decide, and append in a SERIALIZABLE
//! transaction that first checks no matching event was appended after the loaded version. A
//! conflict, real or a serialization failure between unrelated streams, is
//! `disintegrate_postgres::Error::Concurrency`, or a database error with SQLSTATE 40001 where a
//! statement before the commit met it.

use crate::{back_off, pool, run_writers, stream_of, Appends, Level, PeerError, Sample, Writer, MAX_RETRIES};
use disintegrate::serde::json::Json;
use disintegrate::{Decision, DecisionError, EventStore, NoSnapshot, StateMutate, StateQuery};
use disintegrate_postgres::{PgDecisionMaker, PgEventId, PgEventStore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

/// The events of the bench's store: one kind, with the ticket as its domain id (a column of its own).
#[derive(Debug, Clone, PartialEq, Eq, disintegrate::Event, Serialize, Deserialize)]
#[stream(TicketEvent, [TicketDispatched])]
enum BenchEvent {
    TicketDispatched {
        #[id]
        ticket_id: String,
        dispatch: crate::TicketDispatched,
        metadata: BTreeMap<String, String>,
    },
}

/// What a dispatch decides on: how many dispatches the ticket has had.
#[derive(Debug, Default, Clone, StateQuery, Serialize, Deserialize)]
#[state_query(TicketEvent)]
struct DispatchState {
    #[id]
    ticket_id: String,
    dispatches: u64,
}

impl StateMutate for DispatchState {
    fn mutate(&mut self, _event: Self::Event) {
        self.dispatches += 1;
    }
}

/// The one decision: record the sample as `TicketDispatched`.
struct Dispatch {
    ticket_id: String,
    sample: Sample,
}

impl Decision for Dispatch {
    type Event = BenchEvent;
    type StateQuery = DispatchState;
    type Error = Infallible;

    fn state_query(&self) -> DispatchState {
        DispatchState { ticket_id: self.ticket_id.clone(), dispatches: 0 }
    }

    fn process(&self, _state: &DispatchState) -> Result<Vec<BenchEvent>, Infallible> {
        Ok(vec![event(&self.ticket_id, &self.sample)])
    }
}

fn event(ticket_id: &str, sample: &Sample) -> BenchEvent {
    BenchEvent::TicketDispatched {
        ticket_id: ticket_id.to_owned(),
        dispatch: sample.payload.clone(),
        metadata: sample.metadata.clone(),
    }
}

type Store = PgEventStore<BenchEvent, Json<BenchEvent>>;

/// The schema `PgEventStore::try_new` would create, for `PgEventStore::new_uninitialized`: the
/// crate's own SQL with one literal spelled so that PostgreSQL 15 takes it (see the file).
pub const EVENT_STORE_SCHEMA: &str = include_str!("disintegrate_event_store.sql");

/// Creates the schema in the fresh database at `url` ([`EVENT_STORE_SCHEMA`]), then has
/// `writers` writers append `per_writer` events each to tickets of their own. Also counts the
/// holes left in the store's `event_id` sequence.
pub async fn appends(
    url: &str,
    writers: usize,
    per_writer: usize,
    level: Level,
    sample: &Sample,
) -> Result<Appends, PeerError> {
    let pool = pool(url, writers).await?;
    sqlx::raw_sql(EVENT_STORE_SCHEMA).execute(&pool).await?;
    let store: Store = PgEventStore::new_uninitialized(pool.clone(), Json::default());
    let mut run = match level {
        Level::Command => {
            let decisions = Arc::new(disintegrate_postgres::decision_maker(store, NoSnapshot));
            let writers = (0..writers)
                .map(|w| CommandWriter {
                    decisions: Arc::clone(&decisions),
                    ticket_id: stream_of(w),
                    sample: sample.clone(),
                })
                .collect();
            run_writers(writers, per_writer).await?
        }
        Level::Store => {
            let writers = (0..writers)
                .map(|w| StoreWriter {
                    store: store.clone(),
                    ticket_id: stream_of(w),
                    version: 0,
                    sample: sample.clone(),
                })
                .collect();
            run_writers(writers, per_writer).await?
        }
    };
    let (events, highest): (i64, i64) =
        sqlx::query_as("SELECT count(*), coalesce(max(event_id), 0) FROM event").fetch_one(&pool).await?;
    run.sequence_holes = Some(u64::try_from(highest - events).unwrap_or(0));
    pool.close().await;
    Ok(run)
}

/// Whether the store refused an append for a conflict: `Concurrency`, or a serialization failure
/// that a statement before the commit met, which the store passes on as a plain database error
/// (it maps SQLSTATE 40001 to `Concurrency` at the commit only). Both are a conflict to try again.
fn is_conflict(error: &disintegrate_postgres::Error) -> bool {
    match error {
        disintegrate_postgres::Error::Concurrency => true,
        disintegrate_postgres::Error::Database(sqlx::Error::Database(error)) => {
            error.code().as_deref() == Some("40001")
        }
        _ => false,
    }
}

/// Makes decisions, as the library's documentation shows.
struct CommandWriter {
    decisions: Arc<PgDecisionMaker<BenchEvent, Json<BenchEvent>, NoSnapshot>>,
    ticket_id: String,
    sample: Sample,
}

impl Writer for CommandWriter {
    async fn append(&mut self) -> Result<u32, PeerError> {
        for retries in 0..=MAX_RETRIES {
            let decision = Dispatch { ticket_id: self.ticket_id.clone(), sample: self.sample.clone() };
            match self.decisions.make(decision).await {
                Ok(_) => return Ok(retries),
                Err(DecisionError::StateStore(error))
                    if error.downcast_ref::<disintegrate_postgres::Error>().is_some_and(is_conflict) =>
                {
                    back_off(retries).await
                }
                Err(error) => return Err(PeerError::Library(error.into())),
            }
        }
        Err(PeerError::KeptConflicting)
    }
}

/// Appends through the event store with the writer's last event id as the version, validated
/// against the ticket's events, without reading them first.
struct StoreWriter {
    store: Store,
    ticket_id: String,
    version: PgEventId,
    sample: Sample,
}

impl Writer for StoreWriter {
    async fn append(&mut self) -> Result<u32, PeerError> {
        for retries in 0..=MAX_RETRIES {
            let query = disintegrate::query!(BenchEvent; ticket_id == self.ticket_id.clone());
            match self.store.append(vec![event(&self.ticket_id, &self.sample)], query, self.version).await {
                Ok(persisted) => {
                    self.version = persisted.last().map_or(self.version, |event| event.id());
                    return Ok(retries);
                }
                Err(error) if is_conflict(&error) => back_off(retries).await,
                Err(error) => return Err(PeerError::Library(error.into())),
            }
        }
        Err(PeerError::KeptConflicting)
    }
}
