//! `cqrs-es` 0.5 with `postgres-es` 0.5: a `Ticket` aggregate whose one command records the
//! sample as `TicketDispatched`, run by `postgres_es::postgres_cqrs` (the event-sourced
//! `PostgresCqrs`), over the `events` table of `postgres-es`'s documented schema
//! ([`EVENTS_TABLE`]).
//!
//! What the library does per command (`CqrsFramework::execute_with_metadata`): load every event of
//! the aggregate, run `handle`, and insert the new events at the next `sequence` numbers in one
//! transaction; a second writer at the same sequence breaks the primary key and gets
//! `AggregateError::AggregateConflict`.

use crate::{back_off, pool, run_writers, stream_of, Appends, Level, PeerError, Sample, Writer, MAX_RETRIES};
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, DomainEvent};
use postgres_es::{postgres_cqrs, PostgresCqrs, PostgresEventRepository};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

/// The `events` table of `postgres-es` 0.5, as its README asks for: copied from the crate's
/// `db/init.sql` (`persistence/postgres-es/db/init.sql` in github.com/serverlesstechnology/cqrs).
/// That file's `snapshots` and view tables are left out: no snapshots or views are used here.
pub const EVENTS_TABLE: &str = include_str!("postgres_es_events.sql");

/// The aggregate: every command appends one `TicketDispatched`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Ticket {
    dispatches: u64,
}

/// The one command.
struct Dispatch(Sample);

/// The one event; serialised as `{"TicketDispatched": {…payload…}}`, the metadata apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum TicketEvent {
    TicketDispatched(crate::TicketDispatched),
}

impl DomainEvent for TicketEvent {
    fn event_type(&self) -> String {
        "TicketDispatched".into()
    }

    fn event_version(&self) -> String {
        "1".into()
    }
}

impl Aggregate for Ticket {
    const TYPE: &'static str = "ticket";
    type Command = Dispatch;
    type Event = TicketEvent;
    type Error = Infallible;
    type Services = ();

    async fn handle(
        &mut self,
        command: Dispatch,
        _services: &(),
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Infallible> {
        sink.write(TicketEvent::TicketDispatched(command.0.payload), self).await;
        Ok(())
    }

    fn apply(&mut self, _event: TicketEvent) {
        self.dispatches += 1;
    }
}

/// Creates the schema in the fresh database at `url`, then has `writers` writers append
/// `per_writer` events each to aggregates of their own.
pub async fn appends(
    url: &str,
    writers: usize,
    per_writer: usize,
    level: Level,
    sample: &Sample,
) -> Result<Appends, PeerError> {
    let pool = pool(url, writers).await?;
    sqlx::raw_sql(EVENTS_TABLE).execute(&pool).await?;
    let run = match level {
        Level::Command => {
            let cqrs = Arc::new(postgres_cqrs::<Ticket>(pool.clone(), Vec::new(), ()));
            let writers = (0..writers)
                .map(|w| CommandWriter { cqrs: Arc::clone(&cqrs), aggregate_id: stream_of(w), sample: sample.clone() })
                .collect();
            run_writers(writers, per_writer).await?
        }
        Level::Store => {
            let repository = Arc::new(PostgresEventRepository::new(pool.clone()));
            let payload = serde_json::to_value(TicketEvent::TicketDispatched(sample.payload.clone()))
                .map_err(|error| PeerError::Library(error.into()))?;
            let metadata = serde_json::to_value(&sample.metadata).map_err(|error| PeerError::Library(error.into()))?;
            let writers = (0..writers)
                .map(|w| StoreWriter {
                    repository: Arc::clone(&repository),
                    aggregate_id: stream_of(w),
                    sequence: 0,
                    payload: payload.clone(),
                    metadata: metadata.clone(),
                })
                .collect();
            run_writers(writers, per_writer).await?
        }
    };
    pool.close().await;
    Ok(run)
}

/// Appends through the framework, as the library's documentation shows.
struct CommandWriter {
    cqrs: Arc<PostgresCqrs<Ticket>>,
    aggregate_id: String,
    sample: Sample,
}

impl Writer for CommandWriter {
    async fn append(&mut self) -> Result<u32, PeerError> {
        let metadata: HashMap<String, String> = self.sample.metadata.clone().into_iter().collect();
        for retries in 0..=MAX_RETRIES {
            let command = Dispatch(self.sample.clone());
            match self.cqrs.execute_with_metadata(&self.aggregate_id, command, metadata.clone()).await {
                Ok(()) => return Ok(retries),
                Err(AggregateError::AggregateConflict) => back_off(retries).await,
                Err(error) => return Err(PeerError::Library(error.into())),
            }
        }
        Err(PeerError::KeptConflicting)
    }
}

/// Appends through the repository with the next sequence number, without loading the aggregate.
struct StoreWriter {
    repository: Arc<PostgresEventRepository>,
    aggregate_id: String,
    sequence: usize,
    payload: serde_json::Value,
    metadata: serde_json::Value,
}

impl Writer for StoreWriter {
    async fn append(&mut self) -> Result<u32, PeerError> {
        self.sequence += 1;
        let event = SerializedEvent::new(
            self.aggregate_id.clone(),
            self.sequence,
            Ticket::TYPE.into(),
            "TicketDispatched".into(),
            "1".into(),
            self.payload.clone(),
            self.metadata.clone(),
        );
        for retries in 0..=MAX_RETRIES {
            match self.repository.persist::<Ticket>(std::slice::from_ref(&event), None).await {
                Ok(()) => return Ok(retries),
                Err(PersistenceError::OptimisticLockError) => back_off(retries).await,
                Err(error) => return Err(PeerError::Library(error.into())),
            }
        }
        Err(PeerError::KeptConflicting)
    }
}
