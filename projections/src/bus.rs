//! The bus between processes: every event of the log, published to NATS JetStream.
//!
//! [`NatsPublisher`] tails the log from its own checkpoint (row `nats_publisher` of
//! `rm_checkpoints`) and publishes each event, in log order, to stream [`STREAM`] on subject
//! `hotline.ev.<tenant>.<category>.<EventType>` ([`subject`]) with `Nats-Msg-Id` set to the event
//! id and `Hotline-Position` to its log position, waiting for each acknowledgement before the
//! next. Where it goes on from is the stream itself: the position of the last message JetStream
//! acknowledged (read back from the stream when the publisher starts, then kept as it goes), or
//! the checkpoint if that is further. So a publisher killed mid-batch and restarted, however much
//! later, never re-publishes what was acknowledged — JetStream's duplicate window (2 minutes)
//! would drop such a message only within it. Delivery stays at least once and in order (a
//! message whose acknowledgement was lost is sent again), and a consumer that deduplicates by id
//! sees each event once. The log stays the source of truth: NATS being down pauses publishing,
//! never a command.
//!
//! [`NatsWitness`] keeps every signed checkpoint of the log on subject [`WITNESS_SUBJECT`] of
//! stream [`WITNESS_STREAM`], out of reach of whoever holds the database; `hotline verify
//! --witness-nats` holds the log to them ([`NatsWitness::read_all`]).
//!
//! [`ChangeNotices`] tells other nodes when this node's projections committed a batch (core NATS
//! subject `hotline.rm.<projection>`), so their live subscriptions see changes they did not apply
//! themselves. Embedded mode needs no NATS: [`crate::runner::Runner::subscribe`] is the
//! in-process bus.

use crate::runner::Runner;
use crate::store::ReadStore;
use async_nats::jetstream::{self, stream};
use hotline_commands::store::{EventStore, RecordedEvent};
use hotline_commands::witness::{Witness, WitnessError, WitnessRecord};
use sqlx::Row;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The JetStream stream every event is published to.
pub const STREAM: &str = "HOTLINE_EVENTS";

/// The checkpoint row of the publisher.
pub const CHECKPOINT: &str = "nats_publisher";

/// Tenant token of events that belong to no tenant (organisation-wide streams).
pub const NO_TENANT: &str = "group";

/// The subject of an event: `hotline.ev.<tenant>.<category>.<EventType>`.
pub fn subject(event: &RecordedEvent) -> String {
    let tenant = event.metadata.get("tenant").and_then(|t| t.as_str()).unwrap_or(NO_TENANT);
    format!("hotline.ev.{tenant}.{}.{}", event.stream_id.category(), event.event_type)
}

/// Why publishing stopped for now.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// NATS refused or is unreachable.
    #[error("NATS: {0}")]
    Nats(String),
    /// The log failed.
    #[error(transparent)]
    Store(#[from] hotline_commands::store::StoreError),
    /// The checkpoint could not be read or written.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] sqlx::Error),
}

fn nats<E: std::fmt::Display>(error: E) -> BusError {
    BusError::Nats(error.to_string())
}

/// The header carrying an event's log position.
pub const POSITION_HEADER: &str = "Hotline-Position";

/// Publishes the log to JetStream.
pub struct NatsPublisher {
    log: Arc<dyn EventStore>,
    read: ReadStore,
    jetstream: jetstream::Context,
    /// The last position JetStream acknowledged, as far as this publisher knows; `u64::MAX`
    /// until it has been read back from the stream.
    confirmed: AtomicU64,
}

impl NatsPublisher {
    /// Connects (retrying in the background if NATS is not up yet) and makes sure the stream
    /// exists.
    pub async fn connect(url: &str, log: Arc<dyn EventStore>, read: ReadStore) -> Result<NatsPublisher, BusError> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(nats)?;
        let jetstream = jetstream::new(client);
        let publisher = NatsPublisher { log, read, jetstream, confirmed: AtomicU64::new(u64::MAX) };
        Ok(publisher)
    }

    /// The position of the stream's last message: what JetStream acknowledged last, whoever
    /// published it (0 for an empty stream).
    async fn stream_position(&self) -> Result<u64, BusError> {
        let mut stream = self.jetstream.get_stream(STREAM).await.map_err(nats)?;
        let last = stream.info().await.map_err(nats)?.state.last_sequence;
        if last == 0 {
            return Ok(0);
        }
        match stream.get_raw_message(last).await {
            Ok(message) => {
                Ok(message.headers.get(POSITION_HEADER).and_then(|value| value.as_str().parse().ok()).unwrap_or(0))
            }
            // Removed by a limit or by hand: the checkpoint says how far publishing got.
            Err(error) => {
                tracing::warn!(%error, "the stream's last message could not be read; going on from the checkpoint");
                Ok(0)
            }
        }
    }

    /// Where publishing goes on from: the further of the checkpoint and what JetStream holds.
    async fn start_position(&self) -> Result<u64, BusError> {
        let checkpoint = self.position().await?;
        let confirmed = match self.confirmed.load(Ordering::Acquire) {
            u64::MAX => {
                let mut held = self.stream_position().await?;
                let head = self.log.head().await?;
                if held > head {
                    // Not this log's events (another database, or a log restored from an older
                    // backup): the checkpoint alone says where to go on.
                    tracing::warn!(held, head, "{STREAM} holds positions beyond the log's head; ignoring them");
                    held = 0;
                }
                self.confirmed.store(held, Ordering::Release);
                held
            }
            confirmed => confirmed,
        };
        Ok(checkpoint.max(confirmed))
    }

    async fn ensure_stream(&self) -> Result<(), BusError> {
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: STREAM.to_owned(),
                subjects: vec!["hotline.ev.>".to_owned()],
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// The last position acknowledged by JetStream.
    pub async fn position(&self) -> Result<u64, BusError> {
        let row = sqlx::query("SELECT position FROM rm_checkpoints WHERE projection = $1")
            .bind(CHECKPOINT)
            .fetch_optional(&self.read.writer)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0) as u64)
    }

    async fn save(&self, position: u64) -> Result<(), BusError> {
        sqlx::query(
            "INSERT INTO rm_checkpoints (projection, position, status) VALUES ($1, $2, 'running') \
             ON CONFLICT (projection) DO UPDATE SET position = $2",
        )
        .bind(CHECKPOINT)
        .bind(position as i64)
        .execute(&self.read.writer)
        .await?;
        Ok(())
    }

    /// Publishes the next batch; returns how many events were acknowledged (0: caught up).
    pub async fn publish_batch(&self) -> Result<usize, BusError> {
        self.ensure_stream().await?;
        let position = self.start_position().await?;
        let events = self.log.read_all(position, 500).await?;
        let mut acknowledged = 0;
        let mut last = position;
        for event in &events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, event.event_id.to_string().as_str());
            headers.insert(POSITION_HEADER, event.global_position.to_string().as_str());
            let body = serde_json::json!({
                "global_position": event.global_position,
                "stream_id": event.stream_id.as_str(),
                "stream_version": event.stream_version,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "schema_version": event.schema_version,
                "payload": event.payload,
                "metadata": event.metadata,
                "recorded_at": event.recorded_at,
            });
            let sent = self
                .jetstream
                .publish_with_headers(subject(event), headers, body.to_string().into_bytes().into())
                .await;
            let result = match sent {
                Ok(ack) => ack.await.map(|_| ()).map_err(nats),
                Err(error) => Err(nats(error)),
            };
            if let Err(error) = result {
                // Keep what was acknowledged; the rest is sent again on the next attempt.
                if last > position {
                    self.save(last).await?;
                }
                return Err(error);
            }
            last = event.global_position;
            self.confirmed.fetch_max(last, Ordering::AcqRel);
            acknowledged += 1;
        }
        if last > position {
            self.save(last).await?;
        }
        Ok(acknowledged)
    }

    /// Publishes until the log's notifications end; while NATS is down, retries with a growing
    /// pause (up to 10 s) and leaves the rest of the service alone.
    pub async fn run(self) {
        let mut head = self.log.watch_head();
        let mut pause = Duration::from_millis(100);
        loop {
            head.borrow_and_update();
            match self.publish_batch().await {
                Ok(0) => {
                    pause = Duration::from_millis(100);
                    if head.changed().await.is_err() {
                        return;
                    }
                }
                Ok(_) => pause = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!(%error, "publishing to NATS paused; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

/// The JetStream stream that keeps the witnessed checkpoints.
pub const WITNESS_STREAM: &str = "HOTLINE_WITNESS";

/// The subject of witnessed checkpoints: one message per checkpoint, a [`WitnessRecord`] as JSON.
pub const WITNESS_SUBJECT: &str = "hotline.witness";

/// A witness on JetStream: every checkpoint of the log, on [`WITNESS_SUBJECT`] of its own stream
/// ([`WITNESS_STREAM`], file storage, kept for ever), with `Nats-Msg-Id` derived from its position.
pub struct NatsWitness {
    url: String,
    jetstream: jetstream::Context,
}

impl NatsWitness {
    /// Connects (retrying in the background if NATS is not up yet).
    pub async fn connect(url: &str) -> Result<NatsWitness, BusError> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(nats)?;
        Ok(NatsWitness { url: url.to_owned(), jetstream: jetstream::new(client) })
    }

    async fn stream(&self) -> Result<stream::Stream, BusError> {
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: WITNESS_STREAM.to_owned(),
                subjects: vec![WITNESS_SUBJECT.to_owned()],
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(nats)
    }

    /// Every witnessed checkpoint the stream holds, in order; messages that are not witness
    /// records are left out.
    pub async fn read_all(&self) -> Result<Vec<WitnessRecord>, BusError> {
        let mut stream = self.stream().await?;
        let state = stream.info().await.map_err(nats)?.state.clone();
        let mut records = Vec::new();
        if state.messages == 0 {
            return Ok(records);
        }
        for sequence in state.first_sequence..=state.last_sequence {
            match stream.get_raw_message(sequence).await {
                Ok(message) => {
                    if let Ok(record) = serde_json::from_slice(&message.payload) {
                        records.push(record);
                    }
                }
                // A gap: that message was deleted.
                Err(error) if error.kind() == stream::RawMessageErrorKind::NoMessageFound => {}
                Err(error) => return Err(nats(error)),
            }
        }
        Ok(records)
    }

    fn remote(&self, error: BusError) -> WitnessError {
        WitnessError::Remote { witness: self.describe(), reason: error.to_string() }
    }
}

#[async_trait::async_trait]
impl Witness for NatsWitness {
    fn describe(&self) -> String {
        format!("NATS {} subject {WITNESS_SUBJECT}", self.url)
    }

    async fn last_position(&self) -> Result<u64, WitnessError> {
        let stream = self.stream().await.map_err(|e| self.remote(e))?;
        match stream.get_last_raw_message_by_subject(WITNESS_SUBJECT).await {
            Ok(message) => serde_json::from_slice::<WitnessRecord>(&message.payload)
                .map(|record| record.position)
                .map_err(|e| self.remote(BusError::Nats(format!("last witnessed checkpoint: {e}")))),
            Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(error) => Err(self.remote(nats(error))),
        }
    }

    async fn append(&self, record: &WitnessRecord) -> Result<(), WitnessError> {
        self.stream().await.map_err(|e| self.remote(e))?;
        let mut headers = async_nats::HeaderMap::new();
        let id = format!("checkpoint-{}", record.position);
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        headers.insert(POSITION_HEADER, record.position.to_string().as_str());
        let body = serde_json::to_vec(record).expect("witness records serialize");
        let ack = self
            .jetstream
            .publish_with_headers(WITNESS_SUBJECT, headers, body.into())
            .await
            .map_err(|e| self.remote(nats(e)))?;
        ack.await.map(|_| ()).map_err(|e| self.remote(nats(e)))
    }
}

/// Subject prefix of read-model change notices.
pub const NOTICE_PREFIX: &str = "hotline.rm";

#[derive(serde::Serialize, serde::Deserialize)]
struct Notice {
    node: uuid::Uuid,
    projection: String,
    first: u64,
    last: u64,
}

/// Read-model change notices between nodes.
pub struct ChangeNotices {
    client: async_nats::Client,
    node: uuid::Uuid,
}

impl ChangeNotices {
    /// Connects (retrying in the background if NATS is not up yet).
    pub async fn connect(url: &str) -> Result<ChangeNotices, BusError> {
        let client = async_nats::ConnectOptions::new().retry_on_initial_connect().connect(url).await.map_err(nats)?;
        Ok(ChangeNotices { client, node: uuid::Uuid::now_v7() })
    }

    /// Forwards this runner's commits to other nodes, and their notices to this runner's
    /// subscribers (read from the log by position). Notices are best effort: a lost one delays a
    /// live update, never a read model.
    pub async fn spawn(
        self,
        runner: Arc<Runner>,
        log: Arc<dyn EventStore>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, BusError> {
        let mut incoming = self.client.subscribe(format!("{NOTICE_PREFIX}.>")).await.map_err(nats)?;
        let (client, node) = (self.client.clone(), self.node);
        let mut local = runner.subscribe();
        let outgoing = tokio::spawn(async move {
            loop {
                match local.recv().await {
                    Ok(batch) if !batch.remote => {
                        let (Some(first), Some(last)) = (batch.events.first(), batch.events.last()) else { continue };
                        let notice = Notice {
                            node,
                            projection: batch.projection.to_owned(),
                            first: first.global_position,
                            last: last.global_position,
                        };
                        let body = serde_json::to_vec(&notice).expect("notices serialize");
                        if let Err(error) =
                            client.publish(format!("{NOTICE_PREFIX}.{}", batch.projection), body.into()).await
                        {
                            tracing::warn!(%error, "read-model change notice not sent");
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let incoming = tokio::spawn(async move {
            use futures_util::StreamExt;
            while let Some(message) = incoming.next().await {
                let Ok(notice) = serde_json::from_slice::<Notice>(&message.payload) else { continue };
                if notice.node == node || notice.last < notice.first {
                    continue;
                }
                let count = u32::try_from(notice.last - notice.first + 1).unwrap_or(u32::MAX);
                match log.read_all(notice.first - 1, count).await {
                    Ok(events) => runner.announce_remote(&notice.projection, events),
                    Err(error) => tracing::warn!(%error, "change notice could not be read from the log"),
                }
            }
        });
        Ok(vec![outgoing, incoming])
    }
}
