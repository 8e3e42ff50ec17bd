//! Where the log lives, and opening it.

use anyhow::Context;
use hotline_commands::clock::SystemClock;
use hotline_commands::store::postgres::PostgresEventStore;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::EventStore;
use hotline_commands::Hotline;
use hotline_projections::store::ReadStore;
use std::path::PathBuf;
use std::sync::Arc;

/// Storage settings shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreConfig {
    /// Directory of the embedded store (SQLite log, keys). Created if missing.
    #[arg(long, env = "HOTLINE_DATA_DIR", default_value = "hotline-data", global = true)]
    pub data_dir: PathBuf,
    /// PostgreSQL URL of the production log, e.g. postgres://hotline@db/hotline. Without it the
    /// embedded SQLite log under --data-dir is used.
    #[arg(long, env = "HOTLINE_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// NATS server with JetStream: every event is published to stream HOTLINE_EVENTS on
    /// subject hotline.ev.<tenant>.<category>.<EventType>. Without it, live updates stay in-process.
    #[arg(long, env = "HOTLINE_NATS_URL", global = true)]
    pub nats_url: Option<String>,
    /// Code of the organisation's root unit (the group).
    #[arg(long, env = "HOTLINE_GROUP", default_value = "hq", global = true)]
    pub group: String,
}

impl StoreConfig {
    /// A short description of the backend in use, for logs and health checks.
    pub fn describe(&self) -> String {
        match &self.database_url {
            Some(_) => "postgres".to_owned(),
            None => format!("sqlite:{}", self.sqlite_path().display()),
        }
    }

    fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("hotline.db")
    }

    /// Opens (and migrates) the log.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn EventStore>> {
        let clock = Arc::new(SystemClock);
        Ok(match &self.database_url {
            Some(url) => Arc::new(PostgresEventStore::connect(url, clock).await.context("connecting to PostgreSQL")?),
            None => {
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
                let path = self.sqlite_path();
                Arc::new(
                    SqliteEventStore::open(&path, clock)
                        .await
                        .with_context(|| format!("opening the log at {}", path.display()))?,
                )
            }
        })
    }

    /// Opens (and migrates) the read models: `readmodels.db` beside the embedded log, or the same
    /// PostgreSQL database as the log.
    pub async fn open_read_store(&self) -> anyhow::Result<ReadStore> {
        Ok(match &self.database_url {
            Some(url) => ReadStore::open_postgres(url).await.context("opening the read models in PostgreSQL")?,
            None => {
                std::fs::create_dir_all(&self.data_dir)?;
                let path = self.data_dir.join("readmodels.db");
                ReadStore::open_sqlite(&path)
                    .await
                    .with_context(|| format!("opening the read models at {}", path.display()))?
            }
        })
    }

    /// The application service over the log.
    pub async fn open_service(&self) -> anyhow::Result<Hotline> {
        Ok(Hotline::new(self.open_store().await?, Arc::new(SystemClock), &self.group))
    }
}
