//! The read-model database: SQLite beside the embedded log, or PostgreSQL.
//!
//! Queries are written once for both engines through sqlx's `Any` driver, with `$N` placeholders
//! (SQLite accepts them) numbered in order of first use, times as RFC 3339 text and flags as 0/1
//! integers. Projections write through one writer pool (a single connection on SQLite, where only
//! one writer can be active anyway); queries use the reader pool.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// How long a query waits for a connection before it fails: while the database is unreachable a
/// request fails in this long rather than hanging, and the pools reconnect by themselves when it
/// returns. (The SQLite writer waits longer: its one connection may be busy with a rebuild.)
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The database engine behind the read models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite: the embedded default, one file under the data directory.
    Sqlite,
    /// PostgreSQL: the production store, shared by every node.
    Postgres,
}

/// Connections to the read-model database.
#[derive(Debug, Clone)]
pub struct ReadStore {
    /// Projections write here.
    pub(crate) writer: AnyPool,
    /// Queries read here.
    pub(crate) reader: AnyPool,
    /// Which engine.
    pub(crate) engine: Engine,
}

/// Why the read store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ReadStoreError {
    /// The database failed.
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("read-model migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl ReadStore {
    /// Opens (creating and migrating) the read models in a SQLite file.
    pub async fn open_sqlite(path: &Path) -> Result<ReadStore, ReadStoreError> {
        sqlx::any::install_default_drivers();
        let native = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(600))
            .disable_statement_logging();
        let mut conn = native.connect().await?;
        // The log and the read models may share a database, so each set ignores the other's.
        let mut migrator = sqlx::migrate!("../migrations/readmodels/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&mut conn).await?;
        conn.close().await?;
        let url = format!("sqlite://{}", path.display());
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let writer = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(3600))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA busy_timeout = 600000").execute(&mut *conn).await?;
                    // 64 MiB of page cache (the default is 2 MiB): a rebuild writes every table in
                    // one transaction, and with the default cache SQLite spills it to the WAL
                    // early (a rebuild of 1 M events measured 38.8 k events/s, with this 49.3 k).
                    sqlx::query("PRAGMA cache_size = -65536").execute(conn).await.map(|_| ())
                })
            })
            .connect_with(options.clone())
            .await?;
        let reader =
            AnyPoolOptions::new().max_connections(4).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await?;
        Ok(ReadStore { writer, reader, engine: Engine::Sqlite })
    }

    /// Opens (and migrates) the read models in PostgreSQL.
    pub async fn open_postgres(url: &str) -> Result<ReadStore, ReadStoreError> {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let mut migrator = sqlx::migrate!("../migrations/readmodels/postgres");
        migrator.set_ignore_missing(true);
        migrator.run(&mut conn).await?;
        conn.close().await?;
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = || AnyPoolOptions::new().max_connections(8).acquire_timeout(ACQUIRE_TIMEOUT);
        let writer = pool().connect_with(options.clone()).await?;
        let reader = pool().connect_with(options).await?;
        Ok(ReadStore { writer, reader, engine: Engine::Postgres })
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The pool queries read from.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }
}

/// A dynamic WHERE clause: conditions with `?` markers, numbered into `$N` placeholders (after
/// the fixed ones) as they are added, with their values kept in order for binding.
pub(crate) struct WhereClause {
    pub(crate) conditions: Vec<String>,
    pub(crate) values: Vec<String>,
    fixed: usize,
}

impl WhereClause {
    /// Starts with a condition that uses `$1` (bound separately, before the values).
    pub(crate) fn after_cursor(condition: &str) -> WhereClause {
        WhereClause { conditions: vec![condition.to_owned()], values: Vec::new(), fixed: 1 }
    }

    /// Starts with no condition and no fixed placeholder.
    pub(crate) fn new() -> WhereClause {
        WhereClause { conditions: vec!["1 = 1".to_owned()], values: Vec::new(), fixed: 0 }
    }

    /// Adds a condition with one value per `?`.
    pub(crate) fn push(&mut self, template: &str, values: Vec<String>) {
        let mut next = self.fixed + self.values.len() + 1;
        let mut condition = String::new();
        for (i, part) in template.split('?').enumerate() {
            if i > 0 {
                condition.push_str(&format!("${next}"));
                next += 1;
            }
            condition.push_str(part);
        }
        assert_eq!(next - 1 - self.fixed, self.values.len() + values.len(), "one value per ? in {template}");
        self.values.extend(values);
        self.conditions.push(condition);
    }

    /// Restricts to rows whose `column` is one of `values` (none: no rows).
    pub(crate) fn one_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            self.conditions.push("1 = 0".to_owned());
        } else {
            let alternatives = vec![format!("{column} = ?"); values.len()].join(" OR ");
            self.push(&format!("({alternatives})"), values.to_vec());
        }
    }

    /// The conditions joined with AND.
    pub(crate) fn sql(&self) -> String {
        self.conditions.join(" AND ")
    }

    /// One page of a cursor-paged list: `select` (columns and table), this clause (made with
    /// [`WhereClause::after_cursor`]; `after` binds its `$1`), ordered by `order`, at most `first`
    /// rows mapped by `view`; and whether more rows follow.
    pub(crate) async fn page<T>(
        self,
        pool: &sqlx::AnyPool,
        select: &str,
        order: &str,
        after: Option<i64>,
        first: u32,
        view: fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<(Vec<T>, bool), sqlx::Error> {
        let sql = format!("SELECT {select} WHERE {} ORDER BY {order} LIMIT {}", self.sql(), first + 1);
        let mut query = sqlx::query(&sql).bind(after.unwrap_or(0));
        for value in self.values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(pool).await?;
        let mut items = rows.iter().map(view).collect::<Result<Vec<_>, _>>()?;
        let has_next_page = items.len() > first as usize;
        items.truncate(first as usize);
        Ok((items, has_next_page))
    }
}
