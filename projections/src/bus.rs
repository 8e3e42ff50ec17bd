//! The bus between processes: every event of the log, published to NATS JetStream.
//!
//! [`NatsPublisher`] tails the log from its own checkpoint (row `nats_publisher` of
//! `rm_checkpoints`) and publishes each event, in log order, to stream [`STREAM`] on subject
//! `hotline.ev.<tenant>.<category>.<EventType>` ([`subject`]) with `Nats-Msg-Id` set to the event
//! id, waiting for each acknowledgement before the next. The checkpoint moves only after the
//! acknowledgements, so delivery is at least once and in order: a message re-sent after a crash
//! is dropped by JetStream's duplicate window, and beyond it a consumer that deduplicates by id
//! sees each event once. The log stays the source of truth: NATS being down pauses publishing,
//! never a command.
//!
//! [`ChangeNotices`] tells other nodes when this node's projections committed a batch (core NATS
//! subject `hotline.rm.<projection>`), so their live subscriptions see changes they did not apply
//! themselves. Embedded mode needs no NATS: [`crate::runner::Runner::subscribe`] is the
//! in-process bus.

use crate::runner::Runner;
use crate::store::ReadStore;
use async_nats::jetstream::{self, stream};
use hotline_commands::store::{EventStore, RecordedEvent};
use sqlx::Row;
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

/// Publishes the log to JetStream.
pub struct NatsPublisher {
    log: Arc<dyn EventStore>,
    read: ReadStore,
    jetstream: jetstream::Context,
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
        let publisher = NatsPublisher { log, read, jetstream };
        Ok(publisher)
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
        let position = self.position().await?;
        let events = self.log.read_all(position, 500).await?;
        let mut acknowledged = 0;
        let mut last = position;
        for event in &events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, event.event_id.to_string().as_str());
            headers.insert("Hotline-Position", event.global_position.to_string().as_str());
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
