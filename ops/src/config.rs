//! Where the log lives, and opening it; the secret key files, created readable by their owner
//! only and refused when anyone else may read them.

use anyhow::Context;
use hotline_commands::clock::SystemClock;
use hotline_commands::store::postgres::PostgresEventStore;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::EventStore;
use hotline_commands::Hotline;
use hotline_projections::store::ReadStore;
use std::path::{Path, PathBuf};
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
    /// PEM file of the RS256 public key that verifies API tokens (production). Without it, tokens
    /// are HS256 with a secret generated into --data-dir (`jwt-hs256.key`).
    #[arg(long, env = "HOTLINE_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<PathBuf>,
    /// File of the Ed25519 key that signs the log's checkpoints (32 secret bytes, hex). Generated
    /// when missing; defaults to --data-dir/seal-ed25519.key.
    #[arg(long, env = "HOTLINE_SEAL_KEY", global = true)]
    pub seal_key: Option<PathBuf>,
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

    /// The keys that verify (and in embedded mode mint) API tokens.
    pub fn keys(&self) -> anyhow::Result<hotline_graphql::auth::Keys> {
        if let Some(path) = &self.jwt_public_key {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            return Ok(hotline_graphql::auth::Keys::rs256(&pem)?);
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let path = self.data_dir.join("jwt-hs256.key");
        if !path.exists() {
            let secret: [u8; 32] = rand::random();
            write_secret(&path, &hex_encode(&secret))?;
        }
        check_private(&path)?;
        let secret = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(hotline_graphql::auth::Keys::hs256(secret.trim().as_bytes()))
    }

    /// The key that signs checkpoints, generated into its file when missing.
    pub fn seal_key(&self) -> anyhow::Result<hotline_commands::seal::SealKey> {
        let path = self.seal_key.clone().unwrap_or_else(|| self.data_dir.join("seal-ed25519.key"));
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let key = hotline_commands::seal::SealKey::generate();
            write_secret(&path, &hex_encode(&key.to_bytes()))?;
        }
        check_private(&path)?;
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let bytes: Vec<u8> = (0..text.trim().len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text.trim()[i..i + 2], 16))
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} is not hex", path.display()))?;
        let secret: [u8; 32] =
            bytes.try_into().map_err(|_| anyhow::anyhow!("{} must hold 32 bytes", path.display()))?;
        Ok(hotline_commands::seal::SealKey::from_bytes(&secret))
    }

    /// The application service over the log.
    pub async fn open_service(&self) -> anyhow::Result<Hotline> {
        Ok(Hotline::new(self.open_store().await?, Arc::new(SystemClock), &self.group))
    }
}

/// Writes a new secret file that only its owner may read or write (0600).
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Refuses a secret file that group or others may read or write: with the token key anyone could
/// mint a group admin's token, with the seal key sign an altered history.
fn check_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the key file {path} may be read by users other than its owner (mode {mode:03o}); \
                 run `chmod 600 {path}`, and replace the key if others may have read it",
                path = path.display(),
                mode = mode & 0o777,
            );
        }
    }
    Ok(())
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
