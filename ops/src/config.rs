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
                std::fs::create_dir_all(&self.data_dir).map_err(|error| {
                    anyhow::anyhow!("cannot create the data directory: {}", io_cause(&error, &self.data_dir))
                })?;
                let path = self.sqlite_path();
                // SQLite opens a file it may not write read-only without a word, and the first
                // write fails much later: say so now.
                if let Some(cause) = unwritable(&path) {
                    return Err(open_refused(&path, &cause));
                }
                match SqliteEventStore::open(&path, clock).await {
                    Ok(store) => Arc::new(store),
                    Err(error) => return Err(open_failure(&path, true, &error)),
                }
            }
        })
    }

    /// Opens the log for reading only (`verify`, `replay`, `token`): the embedded log is never
    /// created, migrated or written, so a backup or a read-only copy will do. A missing one is
    /// an error naming where it was looked for.
    pub async fn open_store_read_only(&self) -> anyhow::Result<Arc<dyn EventStore>> {
        Ok(match &self.database_url {
            Some(url) => Arc::new(
                PostgresEventStore::connect_read_only(url)
                    .await
                    .context("opening the PostgreSQL log for reading only")?,
            ),
            None => {
                let path = self.sqlite_path();
                if !path.exists() {
                    anyhow::bail!("no log at {}: not found (is --data-dir / HOTLINE_DATA_DIR right?)", path.display());
                }
                match SqliteEventStore::open_read_only(&path).await {
                    Ok(store) => Arc::new(store),
                    Err(error) => return Err(open_failure(&path, false, &error)),
                }
            }
        })
    }

    /// Whether there is a log to open: always on PostgreSQL, the file on SQLite.
    pub fn log_exists(&self) -> bool {
        self.database_url.is_some() || self.sqlite_path().exists()
    }

    /// The application service over the log opened for reading only.
    pub async fn open_service_read_only(&self) -> anyhow::Result<Hotline> {
        Ok(Hotline::new(self.open_store_read_only().await?, Arc::new(SystemClock), &self.group))
    }

    /// Where the seal key's file is (`--seal-key`, or beside the data).
    pub fn seal_key_path(&self) -> PathBuf {
        self.seal_key.clone().unwrap_or_else(|| self.data_dir.join("seal-ed25519.key"))
    }

    /// The seal key if its file exists; never creates one.
    pub fn existing_seal_key(&self) -> anyhow::Result<Option<hotline_commands::seal::SealKey>> {
        match self.seal_key_path().exists() {
            true => self.seal_key().map(Some),
            false => Ok(None),
        }
    }

    /// Opens (and migrates) the read models: `readmodels.db` beside the embedded log, or the same
    /// PostgreSQL database as the log.
    pub async fn open_read_store(&self) -> anyhow::Result<ReadStore> {
        Ok(match &self.database_url {
            Some(url) => ReadStore::open_postgres(url).await.context("opening the read models in PostgreSQL")?,
            None => {
                std::fs::create_dir_all(&self.data_dir).map_err(|error| {
                    anyhow::anyhow!("cannot create the data directory: {}", io_cause(&error, &self.data_dir))
                })?;
                let path = self.data_dir.join("readmodels.db");
                if let Some(cause) = unwritable(&path) {
                    return Err(open_refused(&path, &cause));
                }
                match ReadStore::open_sqlite(&path).await {
                    Ok(store) => store,
                    Err(error) => return Err(open_failure(&path, true, &error)),
                }
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

/// Why SQLite could not open a database it must write, when the file system says so: the file
/// or its directory (where SQLite writes its `-wal` and `-shm` files) is read-only, not ours, or
/// on a full disk.
fn unwritable(path: &Path) -> Option<String> {
    if let Err(error) = std::fs::OpenOptions::new().read(true).write(true).open(path) {
        if error.kind() != std::io::ErrorKind::NotFound {
            return Some(io_cause(&error, path));
        }
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let probe = dir.join(format!(".hotline-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(mut file) => {
            // A full disk still makes an empty file: write a page, as SQLite would.
            use std::io::Write;
            let written = file.write_all(&[0u8; 4096]).and_then(|()| file.sync_data());
            let _ = std::fs::remove_file(&probe);
            written.err().map(|error| io_cause(&error, dir))
        }
        Err(error) => Some(io_cause(&error, dir)),
    }
}

fn open_refused(path: &Path, cause: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot open {} for writing: {cause} (serve, demo, migrate and the export commands need a writable data \
         directory; verify, replay and token read a read-only copy)",
        path.display()
    )
}

/// Why an SQLite file could not be opened, said once: what the file system says if it objects,
/// else the innermost of sqlx's nested errors (which repeat SQLite's message at every level).
fn open_failure(path: &Path, writable: bool, error: &(dyn std::error::Error + 'static)) -> anyhow::Error {
    if writable {
        if let Some(cause) = unwritable(path) {
            return open_refused(path, &cause);
        }
    } else if let Err(error) = std::fs::File::open(path) {
        return anyhow::anyhow!("cannot open {}: {}", path.display(), io_cause(&error, path));
    }
    anyhow::anyhow!("cannot open {}: {}", path.display(), innermost(error))
}

/// An I/O error's cause in plain words, naming the path it concerns.
pub fn io_cause(error: &std::io::Error, path: &Path) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ReadOnlyFilesystem => format!("read-only file system at {}", path.display()),
        ErrorKind::PermissionDenied => format!("permission denied on {}", path.display()),
        ErrorKind::StorageFull => format!("no space left on the device of {}", path.display()),
        ErrorKind::NotFound => format!("not found: {}", path.display()),
        _ => format!("{}: {error}", path.display()),
    }
}

/// The last error of a chain of sources: what sqlx's nested errors come down to.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    while let Some(source) = last.source() {
        last = source;
    }
    last.to_string()
}

/// Writes a new secret file that only its owner may read or write (0600).
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|error| anyhow::anyhow!("cannot create {}: {}", path.display(), io_cause(&error, path)))?;
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
