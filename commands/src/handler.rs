//! Command handling: load the stream, decide, append with the expected version.
//!
//! On a version conflict the command is decided again on fresh state, at most
//! [`MAX_ATTEMPTS`] times, after a short random back-off. A command id seen before returns its first outcome without deciding
//! again (offline retries, SIP retransmissions), also when a concurrent delivery of the same
//! command is appended while this one is decided: a refusal or a conflict is answered with that
//! outcome. The same id with another fingerprint ([`CommandContext::fingerprint`]) is refused. Only accepted commands are recorded: a rejected
//! command appends nothing, so retrying it is decided again. Before deciding, the texts the command
//! carries are checked against [`hotline_domain::text`] (lengths, control characters), whatever
//! the entry point.

use crate::snapshots::Snapshots;
use crate::store::{
    AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StoreError, StreamId,
};
use chrono::{DateTime, Utc};
use hotline_domain::text::{self, TextError};
use hotline_domain::{Decider, DecodeError, EventCodec};
use uuid::Uuid;

/// Attempts before a conflict is given back to the caller.
pub const MAX_ATTEMPTS: u32 = 5;

/// Who sends a command, why and when: becomes every resulting event's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandContext {
    /// Idempotency key, chosen by the client (offline app) or derived (SIP adapter).
    pub command_id: Uuid,
    /// The acting user or system account.
    pub actor: String,
    /// The tenant the command acts in, if any.
    pub tenant: Option<String>,
    /// Ties together all a request caused.
    pub correlation_id: Uuid,
    /// The event or command that caused this one.
    pub causation_id: Option<Uuid>,
    /// `graphql`, `mobile`, `sip`, `timer`, `demo`, `cli`.
    pub source: String,
    /// When it happened by the caller's clock.
    pub occurred_at: DateTime<Utc>,
    /// What the command asked, as the entry point fingerprints it (SHA-256 hex of its arguments
    /// and caller); kept with the command id, so the id reused for a different command is
    /// refused ([`CommandError::CommandIdReused`]). `None` when the entry point gives none.
    pub fingerprint: Option<String>,
}

impl CommandContext {
    /// A context for a fresh command: new command id, correlated with itself.
    pub fn new(actor: &str, source: &str, occurred_at: DateTime<Utc>) -> CommandContext {
        let command_id = Uuid::now_v7();
        CommandContext {
            command_id,
            actor: actor.to_owned(),
            tenant: None,
            correlation_id: command_id,
            causation_id: None,
            source: source.to_owned(),
            occurred_at,
            fingerprint: None,
        }
    }

    /// The same context with another command id: for the second append of one request, derived
    /// deterministically so that a retry of the request finds it.
    pub fn derived(&self, purpose: &str) -> CommandContext {
        CommandContext {
            command_id: Uuid::new_v5(&self.command_id, purpose.as_bytes()),
            causation_id: Some(self.command_id),
            ..self.clone()
        }
    }

    /// The metadata every event of this command carries.
    pub fn metadata(&self) -> Metadata {
        Metadata {
            tenant: self.tenant.clone(),
            actor: self.actor.clone(),
            command_id: Some(self.command_id),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            source: self.source.clone(),
            occurred_at: self.occurred_at,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed<E> {
    /// The stream it acted on.
    pub stream_id: StreamId,
    /// The events decided now; empty for a duplicate.
    pub events: Vec<E>,
    /// Where they landed, or the first outcome of a duplicate.
    pub outcome: AppendOutcome,
}

/// Why a command did not take effect. Nothing was appended in any case.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// A business rule refused it.
    #[error("rejected: {0}")]
    Rejected(E),
    /// Its command id was used before for a different command (another fingerprint).
    #[error("command id {command_id} was used for a different command")]
    CommandIdReused {
        /// The reused id.
        command_id: Uuid,
    },
    /// A text it carries is too long or holds a control character ([`hotline_domain::text`]).
    #[error("invalid text: {0}")]
    InvalidText(TextError),
    /// The stream kept changing under it for [`MAX_ATTEMPTS`] attempts.
    #[error("conflict on stream {stream}: expected version {expected}, actual {actual}")]
    Conflict {
        /// The stream that kept moving on.
        stream: StreamId,
        /// Expected version.
        expected: ExpectedVersion,
        /// Actual version.
        actual: u64,
    },
    /// A stored event could not be decoded (a newer build wrote it, or it is corrupt).
    #[error("cannot decode event at position {position}: {source}")]
    Decode {
        /// The global position of the undecodable event.
        position: u64,
        /// What the codec refused: an unknown type or version, or a payload that does not fit.
        source: DecodeError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E: std::error::Error> From<AppendError> for CommandError<E> {
    fn from(error: AppendError) -> CommandError<E> {
        match error {
            AppendError::Conflict { stream, expected, actual } => CommandError::Conflict { stream, expected, actual },
            AppendError::CommandIdReused { command_id } => CommandError::CommandIdReused { command_id },
            AppendError::Store(error) => CommandError::Store(error),
        }
    }
}

/// The first outcome of the context's command id, if it was appended: the answer to a retry. The
/// id used before for a different command (another fingerprint) is
/// [`AppendError::CommandIdReused`].
pub async fn first_outcome(
    store: &dyn EventStore,
    context: &CommandContext,
) -> Result<Option<AppendOutcome>, AppendError> {
    let Some(recorded) = store.recorded_command(context.command_id).await? else { return Ok(None) };
    match recorded.outcome_for(context.fingerprint.as_deref()) {
        Some(outcome) => Ok(Some(outcome)),
        None => Err(AppendError::CommandIdReused { command_id: context.command_id }),
    }
}

/// Loads and folds a stream; returns the state and the stream's version.
pub async fn load<D: Decider>(
    store: &dyn EventStore,
    stream: &StreamId,
) -> Result<(D::State, u64), CommandError<D::Error>>
where
    D::State: 'static,
{
    load_with::<D>(store, stream, None).await
}

/// [`load`], starting from the stream's snapshot when `snapshots` keeps one: only the events
/// after it are read and folded. The state is the log's current one either way.
pub async fn load_with<D: Decider>(
    store: &dyn EventStore,
    stream: &StreamId,
    snapshots: Option<&Snapshots>,
) -> Result<(D::State, u64), CommandError<D::Error>>
where
    D::State: 'static,
{
    let (mut state, mut version) = snapshots.and_then(|s| s.get::<D>(stream)).unwrap_or_default();
    // Only what folding needs: the payload's text, decoded straight into the event.
    let recorded = store.read_stream_payloads(stream, version + 1).await?;
    for event in &recorded {
        let decoded = D::Event::decode_text(&event.event_type, event.schema_version, &event.payload)
            .map_err(|source| CommandError::Decode { position: event.global_position, source })?;
        state = D::evolve(state, &decoded);
        version = event.stream_version;
    }
    if let (Some(snapshots), false) = (snapshots, recorded.is_empty()) {
        snapshots.put::<D>(stream, &state, version);
    }
    Ok((state, version))
}

/// Runs a command against a stream.
pub async fn execute<D: Decider>(
    store: &dyn EventStore,
    stream: &StreamId,
    command: &D::Command,
    context: &CommandContext,
) -> Result<Executed<D::Event>, CommandError<D::Error>>
where
    D::State: 'static,
{
    execute_with::<D>(store, stream, command, context, None).await
}

/// [`execute`], loading through `snapshots` (see [`load_with`]).
pub async fn execute_with<D: Decider>(
    store: &dyn EventStore,
    stream: &StreamId,
    command: &D::Command,
    context: &CommandContext,
    snapshots: Option<&Snapshots>,
) -> Result<Executed<D::Event>, CommandError<D::Error>>
where
    D::State: 'static,
{
    let duplicate = |outcome| Ok(Executed { stream_id: stream.clone(), events: Vec::new(), outcome });
    if let Some(outcome) = first_outcome(store, context).await? {
        return duplicate(outcome);
    }
    text::check_all(D::texts(command)).map_err(CommandError::InvalidText)?;
    let mut attempt = 1;
    loop {
        let (state, version) = load_with::<D>(store, stream, snapshots).await?;
        let events = match D::decide(&state, command) {
            Ok(events) => events,
            Err(rejection) => {
                // Another delivery of this very command may have been appended since the check
                // above: its outcome is the answer, not the rule its events now break (e.g. a
                // retried registration would meet `TicketAlreadyExists`).
                if let Some(outcome) = first_outcome(store, context).await? {
                    return duplicate(outcome);
                }
                return Err(CommandError::Rejected(rejection));
            }
        };
        let metadata = context.metadata();
        let request = AppendRequest {
            stream_id: stream.clone(),
            expected: if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) },
            events: events.iter().map(|event| NewEvent::encoded(event.encode(), metadata.clone())).collect(),
            command_id: Some(context.command_id),
            fingerprint: context.fingerprint.clone(),
        };
        match store.append(request).await {
            Ok(outcome) if outcome.duplicate => {
                // Another delivery of the same command won the race: its outcome is the answer.
                return duplicate(outcome);
            }
            Ok(outcome) => return Ok(Executed { stream_id: stream.clone(), events, outcome }),
            Err(AppendError::Conflict { stream: moved, expected, actual }) => {
                // The stream moved because another delivery of this command was appended: answer
                // with its outcome rather than deciding again.
                if let Some(outcome) = first_outcome(store, context).await? {
                    return duplicate(outcome);
                }
                if attempt >= MAX_ATTEMPTS {
                    return Err(CommandError::Conflict { stream: moved, expected, actual });
                }
                // Random, growing back-off, so writers racing on one stream spread out.
                let ceiling_ms = 2u64 << attempt;
                tokio::time::sleep(std::time::Duration::from_millis(rand::random::<u64>() % ceiling_ms)).await;
                attempt += 1;
            }
            Err(other) => return Err(other.into()),
        }
    }
}
