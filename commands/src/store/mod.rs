//! The log: the stored envelope, the [`EventStore`] contract and its two backends.
//!
//! # Invariants (each has a test in `tests/conformance.rs`, run against every backend)
//! 1. Append-only: no method updates or deletes an event; the schemas add triggers that refuse it.
//! 2. Per-stream optimistic concurrency ([`ExpectedVersion`]); a conflict names the stream, the
//!    expected and the actual version.
//! 3. Global order: `global_position` rises strictly in commit order with no gaps, so a reader that
//!    has seen position N has seen every event below N.
//! 4. Idempotency: an append with a command id that was appended before returns the first outcome
//!    and appends nothing, forever (the ids live in table `commands`, never purged); with another
//!    fingerprint ([`AppendRequest::fingerprint`]) it is [`AppendError::CommandIdReused`].
//! 5. Tamper evidence: `stream_hash = SHA-256(previous stream_hash ‖ canonical bytes)`, see [`hash`].
//! 6. Events keep their `schema_version`; upcasting happens in `domain` on read, never here.

pub mod hash;
pub mod merkle;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use tokio::sync::watch;
use uuid::Uuid;

/// A stream name, `<category>-<id>`: the category is lowercase letters, the id is not empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StreamId(String);

impl StreamId {
    /// Builds `<category>-<id>`.
    pub fn new(category: &str, id: impl fmt::Display) -> StreamId {
        StreamId(format!("{category}-{id}"))
    }

    /// Parses a stored or user-given name.
    pub fn parse(raw: &str) -> Result<StreamId, StoreError> {
        match raw.split_once('-') {
            Some((category, id))
                if !category.is_empty() && category.chars().all(|c| c.is_ascii_lowercase()) && !id.is_empty() =>
            {
                Ok(StreamId(raw.to_owned()))
            }
            _ => Err(StoreError::InvalidStreamId(raw.to_owned())),
        }
    }

    /// The category part: `ticket` of `ticket-0190…`.
    pub fn category(&self) -> &str {
        self.parts().0
    }

    /// The id part, everything after the first `-`: `0190…` of `ticket-0190…`, `tj01-2026` of
    /// `ticketno-tj01-2026`.
    pub fn id(&self) -> &str {
        self.parts().1
    }

    /// The id part when the stream is of `category`, `None` for any other category.
    pub fn id_in(&self, category: &str) -> Option<&str> {
        let (own, id) = self.parts();
        (own == category).then_some(id)
    }

    fn parts(&self) -> (&str, &str) {
        // Both constructors put a `-` after the category, and the category never holds one.
        self.0.split_once('-').unwrap_or((self.0.as_str(), ""))
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the writer believes the stream's version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist.
    NoStream,
    /// The stream's last version must be exactly this (1-based).
    Exact(u64),
}

impl ExpectedVersion {
    fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(v) => actual == v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// Who did what, on whose behalf, from where and when; stored beside every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The tenant (subsidiary) the event belongs to; `None` for group-wide streams.
    pub tenant: Option<String>,
    /// The user or system account that caused it.
    pub actor: String,
    /// The command that produced it.
    pub command_id: Option<Uuid>,
    /// Ties together everything one request caused.
    pub correlation_id: Uuid,
    /// The event or command that directly caused it.
    pub causation_id: Option<Uuid>,
    /// Where it came from: `graphql`, `mobile`, `sip`, `timer`, `demo`, `cli`.
    pub source: String,
    /// When it happened, by the caller's clock (device time for offline commands).
    pub occurred_at: DateTime<Utc>,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// UUID v7.
    pub event_id: Uuid,
    /// Past-tense wire name.
    pub event_type: String,
    /// Payload version.
    pub schema_version: u32,
    /// The event's facts as JSON, in the shape of `event_type` at `schema_version`.
    pub payload: Value,
    /// Who, why and when: tenant, actor, command, correlation, causation, source, occurred_at.
    pub metadata: Metadata,
}

impl NewEvent {
    /// A domain event's wire form with its metadata, under a new UUID v7 event id.
    pub fn encoded(encoded: hotline_domain::codec::EncodedEvent, metadata: Metadata) -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: encoded.event_type,
            schema_version: encoded.schema_version,
            payload: encoded.payload,
            metadata,
        }
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Position in the whole log, from 1, no gaps.
    pub global_position: u64,
    /// The stream it belongs to, `<category>-<id>`.
    pub stream_id: StreamId,
    /// Version within the stream, from 1.
    pub stream_version: u64,
    /// The event's own id: a UUID v7 made at append.
    pub event_id: Uuid,
    /// Wire name.
    pub event_type: String,
    /// Payload version as stored (never rewritten).
    pub schema_version: u32,
    /// Data exactly as stored.
    pub payload: Value,
    /// Metadata exactly as stored; [`RecordedEvent::meta`] gives it typed.
    pub metadata: Value,
    /// Server clock at commit (UTC, microseconds).
    pub recorded_at: DateTime<Utc>,
    /// Lowercase hex SHA-256 chaining the stream.
    pub stream_hash: String,
}

impl RecordedEvent {
    /// The metadata, typed.
    pub fn meta(&self) -> Result<Metadata, StoreError> {
        serde_json::from_value(self.metadata.clone())
            .map_err(|e| StoreError::Corrupt { position: self.global_position, reason: format!("metadata: {e}") })
    }
}

/// An event as folding it needs: no metadata, no hash, the payload as stored text (decoded with
/// [`hotline_domain::EventCodec::decode_text`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPayload {
    /// Position in the global order.
    pub global_position: u64,
    /// Version within the stream.
    pub stream_version: u64,
    /// Wire name.
    pub event_type: String,
    /// Payload version as stored.
    pub schema_version: u32,
    /// The payload's JSON text, exactly as stored.
    pub payload: String,
}

/// An event as its columns hold it, every field as the text (or number) its hash covers:
/// what `hotline verify` reads, hashing the stored bytes as they are instead of parsing the JSON
/// and writing it again. Nothing is parsed, so a corrupt field is found by its hash, not by a
/// read error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the whole log.
    pub global_position: u64,
    /// The stream's name as stored.
    pub stream_id: String,
    /// Version within the stream.
    pub stream_version: u64,
    /// Event id, hyphenated lowercase as stored.
    pub event_id: String,
    /// Wire name.
    pub event_type: String,
    /// Payload version as stored.
    pub schema_version: u32,
    /// The payload's JSON text, exactly as stored (canonical when untouched).
    pub payload: String,
    /// The metadata's JSON text, exactly as stored.
    pub metadata: String,
    /// [`format_recorded_at`] of the commit time.
    pub recorded_at: String,
    /// Lowercase hex SHA-256 chaining the stream.
    pub stream_hash: String,
}

impl From<&RecordedEvent> for StoredEvent {
    fn from(event: &RecordedEvent) -> StoredEvent {
        StoredEvent {
            global_position: event.global_position,
            stream_id: event.stream_id.as_str().to_owned(),
            stream_version: event.stream_version,
            event_id: event.event_id.hyphenated().to_string(),
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            payload: hash::canonical_json(&event.payload),
            metadata: hash::canonical_json(&event.metadata),
            recorded_at: format_recorded_at(&event.recorded_at),
            stream_hash: event.stream_hash.clone(),
        }
    }
}

/// What checking the log's order and checkpoints needs of an event, whichever form it was read
/// in ([`RecordedEvent`] or [`StoredEvent`]).
pub trait LogEntry {
    /// Position in the whole log.
    fn position(&self) -> u64;
    /// The stream's whole name.
    fn stream(&self) -> &str;
    /// Version within the stream.
    fn version(&self) -> u64;
    /// The stored stream hash.
    fn stored_hash(&self) -> &str;
    /// Wire name.
    fn event_type(&self) -> &str;
    /// Payload version as stored.
    fn schema_version(&self) -> u32;
    /// The payload as JSON (parsed when it is stored text).
    fn payload_value(&self) -> Result<std::borrow::Cow<'_, Value>, String>;
    /// The stream's category: `ticket` of `ticket-0190…`.
    fn category(&self) -> &str {
        self.stream().split_once('-').map_or(self.stream(), |(category, _)| category)
    }
}

impl LogEntry for RecordedEvent {
    fn position(&self) -> u64 {
        self.global_position
    }
    fn stream(&self) -> &str {
        self.stream_id.as_str()
    }
    fn version(&self) -> u64 {
        self.stream_version
    }
    fn stored_hash(&self) -> &str {
        &self.stream_hash
    }
    fn event_type(&self) -> &str {
        &self.event_type
    }
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
    fn payload_value(&self) -> Result<std::borrow::Cow<'_, Value>, String> {
        Ok(std::borrow::Cow::Borrowed(&self.payload))
    }
}

impl LogEntry for StoredEvent {
    fn position(&self) -> u64 {
        self.global_position
    }
    fn stream(&self) -> &str {
        &self.stream_id
    }
    fn version(&self) -> u64 {
        self.stream_version
    }
    fn stored_hash(&self) -> &str {
        &self.stream_hash
    }
    fn event_type(&self) -> &str {
        &self.event_type
    }
    fn schema_version(&self) -> u32 {
        self.schema_version
    }
    fn payload_value(&self) -> Result<std::borrow::Cow<'_, Value>, String> {
        serde_json::from_str(&self.payload)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| format!("payload at position {}: {e}", self.global_position))
    }
}

/// One append: events for one stream, checked against an expected version.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendRequest {
    /// The stream it belongs to, `<category>-<id>`.
    pub stream_id: StreamId,
    /// Concurrency check.
    pub expected: ExpectedVersion,
    /// Events; may be empty to record a command that decided nothing.
    pub events: Vec<NewEvent>,
    /// Idempotency key.
    pub command_id: Option<Uuid>,
    /// What the command asked, as a fingerprint kept with its id (SHA-256 hex of its arguments and
    /// caller): the same id with another fingerprint is [`AppendError::CommandIdReused`]. `None`
    /// (SIP, timers, rows from before fingerprints) matches any.
    pub fingerprint: Option<String>,
}

/// A command id as table `commands` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCommand {
    /// Its first outcome, marked as a duplicate.
    pub outcome: AppendOutcome,
    /// The fingerprint it was first appended with, if any.
    pub fingerprint: Option<String>,
}

/// A row of table `commands` as both backends read it: stream version, first and last position,
/// fingerprint (none for rows written before fingerprints).
pub(crate) type CommandRow = (i64, Option<i64>, Option<i64>, Option<String>);

impl RecordedCommand {
    /// A row of table `commands`, as a duplicate's answer.
    fn from_row((version, first, last, fingerprint): CommandRow) -> RecordedCommand {
        RecordedCommand {
            outcome: AppendOutcome {
                stream_version: version as u64,
                first_position: first.map(|p| p as u64),
                last_position: last.map(|p| p as u64),
                duplicate: true,
            },
            fingerprint,
        }
    }

    /// The first outcome, for a delivery with `fingerprint`; `None` when the id was used for a
    /// different command. An unknown fingerprint on either side matches.
    pub fn outcome_for(&self, fingerprint: Option<&str>) -> Option<AppendOutcome> {
        match (self.fingerprint.as_deref(), fingerprint) {
            (Some(first), Some(now)) if first != now => None,
            _ => Some(self.outcome),
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// The stream's version after the append.
    pub stream_version: u64,
    /// Position of the first event appended.
    pub first_position: Option<u64>,
    /// Position of the last event appended: read models at or past it show the change.
    pub last_position: Option<u64>,
    /// `true` when the command id was seen before and this is the first outcome, replayed.
    pub duplicate: bool,
}

/// A row of the idempotency table: a command id and the first outcome of its append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    /// The command.
    pub command_id: Uuid,
    /// The stream it appended to.
    pub stream_id: String,
    /// The stream's version after it.
    pub stream_version: u64,
    /// The first position it appended (`None`: it decided nothing).
    pub first_position: Option<u64>,
    /// The last position it appended.
    pub last_position: Option<u64>,
}

/// Why an append failed; nothing of a failed append is stored.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stream moved on since the caller read it.
    #[error("conflict on stream {stream}: expected version {expected}, actual {actual}")]
    Conflict {
        /// The stream that moved on.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The version found.
        actual: u64,
    },
    /// The command id was appended before for a command with another fingerprint.
    #[error("command id {command_id} was used for a different command")]
    CommandIdReused {
        /// The reused id.
        command_id: Uuid,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Failures of the store itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row cannot be read back as an event.
    #[error("corrupt event at position {position}: {reason}")]
    Corrupt {
        /// The global position of the unreadable row.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// A name that is not `<category>-<id>`.
    #[error("invalid stream id {0:?}")]
    InvalidStreamId(String),
    /// The group-commit transaction this append was part of failed; nothing of it is stored.
    #[error("the commit failed: {0}")]
    CommitFailed(String),
    /// The writer task has stopped (the store is shutting down).
    #[error("the store is closed")]
    Closed,
    /// A database opened for reading only holds no log.
    #[error("no log here: {0}")]
    NoLog(String),
}

/// The log's contract; both backends pass the same conformance suite.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically, or not at all.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError>;

    /// A command id's first outcome and fingerprint, if it was appended.
    async fn recorded_command(&self, command_id: Uuid) -> Result<Option<RecordedCommand>, StoreError>;

    /// The first outcome of a command id, if it was appended (whatever its fingerprint).
    async fn command_outcome(&self, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        Ok(self.recorded_command(command_id).await?.map(|command| command.outcome))
    }

    /// A stream's events with `stream_version >= from_version`, in order.
    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<RecordedEvent>, StoreError>;

    /// A stream's events from `from_version` on with only what rehydration needs (see
    /// [`StoredPayload`]): the command side's hot read, cheaper than [`EventStore::read_stream`].
    /// The default reads whole events; both backends read just those columns.
    async fn read_stream_payloads(
        &self,
        stream: &StreamId,
        from_version: u64,
    ) -> Result<Vec<StoredPayload>, StoreError> {
        Ok(self
            .read_stream(stream, from_version)
            .await?
            .into_iter()
            .map(|event| StoredPayload {
                global_position: event.global_position,
                stream_version: event.stream_version,
                event_type: event.event_type,
                schema_version: event.schema_version,
                payload: event.payload.to_string(),
            })
            .collect())
    }

    /// The event at `version` of a stream, `None` when the stream is shorter.
    async fn read_event(&self, stream: &StreamId, version: u64) -> Result<Option<RecordedEvent>, StoreError>;

    /// Up to `limit` events with `global_position > after`, in order.
    async fn read_all(&self, after: u64, limit: u32) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events with `global_position > after`, in order, as stored ([`StoredEvent`]):
    /// `hotline verify`'s read. The default reads whole events and writes their canonical text;
    /// both backends read the columns' text as it is.
    async fn read_all_stored(&self, after: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(self.read_all(after, limit).await?.iter().map(StoredEvent::from).collect())
    }

    /// The highest committed position (0 for an empty log).
    async fn head(&self) -> Result<u64, StoreError>;

    /// Up to `limit` rows of the idempotency table with a command id above `after` (all from the
    /// first with `None`), in command id order: for `hotline verify`, which holds them to the
    /// command ids the events carry.
    async fn read_commands(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<CommandRecord>, StoreError>;

    /// Notifies of each newly committed head position (also commits of other processes on
    /// PostgreSQL). A receiver may skip intermediate values: read the log from your own position.
    fn watch_head(&self) -> watch::Receiver<u64>;
}

/// A row of `(global_position, stream_version, event_type, schema_version, payload)`.
fn stored_payload(
    (position, version, event_type, schema_version, payload): (i64, i64, String, i64, String),
) -> StoredPayload {
    StoredPayload {
        global_position: position as u64,
        stream_version: version as u64,
        event_type,
        schema_version: schema_version as u32,
        payload,
    }
}

/// Formats a commit time the one way the log stores and hashes it.
pub fn format_recorded_at(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Truncates a time to the microseconds both backends keep.
pub fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).expect("a current time is representable in microseconds")
}

/// Batches committed while the clock was behind the log's last recorded time (see
/// [`recorded_at`]); shown as `hotline_clock_behind_total`.
pub static CLOCK_BEHIND_BATCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How far behind the last recorded time the clock was at the latest commit, in microseconds (0
/// when it was not behind); shown as `hotline_clock_behind_seconds`.
pub static CLOCK_BEHIND_MICROS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The time a batch is recorded at: the clock's, unless it is behind the last time the log
/// recorded, which is then held. Recorded time thus never decreases along positions, so `--at`
/// queries (which read the log up to a recorded time) never show a later event before an earlier
/// one. A clock set back (NTP step, a wrong RTC after a restart) is warned of once, when the
/// store first sees it behind, and counted in [`CLOCK_BEHIND_BATCHES`].
pub(crate) fn recorded_at(now: DateTime<Utc>, last: Option<DateTime<Utc>>) -> DateTime<Utc> {
    use std::sync::atomic::Ordering::Relaxed;
    let now = to_micros(now);
    match last {
        Some(last) if last > now => {
            let behind = (last - now).num_microseconds().unwrap_or(i64::MAX);
            if CLOCK_BEHIND_MICROS.swap(behind, Relaxed) == 0 {
                tracing::warn!(
                    clock = %format_recorded_at(&now),
                    last_recorded = %format_recorded_at(&last),
                    "the clock is behind the log's last recorded time; recording that time until it catches up"
                );
            }
            CLOCK_BEHIND_BATCHES.fetch_add(1, Relaxed);
            last
        }
        _ => {
            if CLOCK_BEHIND_MICROS.swap(0, Relaxed) != 0 {
                tracing::info!("the clock has caught up with the log's recorded time");
            }
            now
        }
    }
}

/// A row ready to insert: every column as the log stores and hashes it.
#[derive(Debug, Clone)]
pub(crate) struct PreparedRow {
    global_position: u64,
    stream_version: u64,
    event_id: Uuid,
    event_type: String,
    schema_version: u32,
    payload: String,
    metadata: String,
    stream_hash: String,
}

/// Turns an append's events into rows, chaining their hashes; the one place both backends hash.
fn prepare_rows(
    request: &AppendRequest,
    first_position: u64,
    current_version: u64,
    previous_hash: Option<String>,
    recorded_at: &DateTime<Utc>,
) -> Vec<PreparedRow> {
    let recorded_at = format_recorded_at(recorded_at);
    let mut previous = previous_hash;
    request
        .events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let payload = hash::canonical_json(&event.payload);
            let metadata =
                hash::canonical_json(&serde_json::to_value(&event.metadata).expect("metadata serializes to JSON"));
            let event_id = event.event_id.hyphenated().to_string();
            let row = PreparedRow {
                global_position: first_position + i as u64,
                stream_version: current_version + 1 + i as u64,
                event_id: event.event_id,
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
                stream_hash: String::new(),
                payload,
                metadata,
            };
            let stream_hash = hash::stream_hash(
                previous.as_deref(),
                &hash::HashInput {
                    global_position: row.global_position,
                    stream_id: request.stream_id.as_str(),
                    stream_version: row.stream_version,
                    event_id: &event_id,
                    event_type: &row.event_type,
                    schema_version: row.schema_version,
                    payload: &row.payload,
                    metadata: &row.metadata,
                    recorded_at: &recorded_at,
                },
            );
            previous = Some(stream_hash.clone());
            PreparedRow { stream_hash, ..row }
        })
        .collect()
}

/// The outcome of an append that wrote `rows` and left the stream at `stream_version`.
fn outcome_of(rows: &[PreparedRow], stream_version: u64) -> AppendOutcome {
    AppendOutcome {
        stream_version,
        first_position: rows.first().map(|r| r.global_position),
        last_position: rows.last().map(|r| r.global_position),
        duplicate: false,
    }
}

/// Parses a stored JSON column.
fn parse_json(position: u64, column: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { position, reason: format!("{column}: {e}") })
}

#[cfg(test)]
mod tests {
    use super::StreamId;

    #[test]
    fn stream_id_splits_at_the_first_dash() {
        let check = |raw: &str, category: &str, id: &str| {
            let stream = StreamId::parse(raw).expect("a valid stream name");
            assert_eq!((stream.category(), stream.id()), (category, id), "{raw}");
        };
        check("ticket-0190d6a4-0000-7000-8000-000000000001", "ticket", "0190d6a4-0000-7000-8000-000000000001");
        check("ticketno-tj01-2026", "ticketno", "tj01-2026");
        check("call-a1b2@10.0.0.1", "call", "a1b2@10.0.0.1");
        check("seal-log", "seal", "log");
    }

    #[test]
    fn stream_id_new_round_trips_through_its_accessors() {
        let stream = StreamId::new("telephony", "tj01");
        assert_eq!(stream.as_str(), "telephony-tj01");
        assert_eq!((stream.category(), stream.id()), ("telephony", "tj01"));
        assert_eq!(StreamId::parse(stream.as_str()).expect("valid"), stream);
    }

    #[test]
    fn stream_id_id_in_answers_only_for_its_category() {
        let stream = StreamId::new("ticketno", "tj01-2026");
        assert_eq!(stream.id_in("ticketno"), Some("tj01-2026"));
        // A category that is a prefix of the real one is another category.
        assert_eq!(stream.id_in("ticket"), None);
        assert_eq!(StreamId::new("ticket", "x").id_in("ticket"), Some("x"));
    }
}
