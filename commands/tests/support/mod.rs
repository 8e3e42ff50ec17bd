//! Test harness: a fresh log per test, on SQLite (a temp dir) or PostgreSQL (a new database on
//! the server named by `HOTLINE_TEST_DATABASE_URL`, dropped afterwards).

#![allow(dead_code, unreachable_pub)]

use chrono::{DateTime, TimeZone, Utc};
use hotline_commands::clock::{Clock, ManualClock};
use hotline_commands::handler::CommandContext;
use hotline_commands::store::postgres::PostgresEventStore;
use hotline_commands::store::sqlite::{connect_raw, SqliteEventStore};
use hotline_commands::store::EventStore;
use hotline_commands::Hotline;
use hotline_domain::approval::Approver;
use hotline_domain::organisation::{OrganisationCommand, Role, UnitKind};
use hotline_domain::values::{OrgPath, TenantId, UnitCode};
use sqlx::{Connection, Executor, PgConnection};
use std::path::PathBuf;
use std::sync::Arc;

/// The PostgreSQL server tests use; `ops/test.sh` sets it after finding or starting one.
pub fn postgres_admin_url() -> String {
    std::env::var("HOTLINE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "HOTLINE_TEST_DATABASE_URL is not set. Run the suite with ops/test.sh, which finds or starts \
             PostgreSQL (installing it with `apt-get install -y postgresql` where missing), or set it to \
             a server where this user may CREATE DATABASE, e.g. postgres://postgres@127.0.0.1:5432/postgres"
        )
    })
}

/// Which backend a store runs on, with what tests need to tamper with it.
pub enum Raw {
    Sqlite(PathBuf),
    Postgres { admin_url: String, url: String, database: String },
}

pub struct TestStore {
    pub store: Arc<dyn EventStore>,
    pub clock: Arc<ManualClock>,
    pub raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()))
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hotline.db");
    let clock = clock();
    let store = SqliteEventStore::open(&path, clock.clone() as Arc<dyn Clock>).await.expect("open sqlite log");
    TestStore { store: Arc::new(store), clock, raw: Raw::Sqlite(path), _dir: Some(dir) }
}

/// A fresh, empty database on the test server.
pub async fn fresh_postgres_database() -> (String, String, String) {
    let admin_url = postgres_admin_url();
    let database = format!("hotline_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at HOTLINE_TEST_DATABASE_URL={admin_url}: {e}"));
    admin.execute(format!("CREATE DATABASE {database}").as_str()).await.expect("create test database");
    let mut url = url_with_database(&admin_url, &database);
    if !url.contains("application_name") {
        url.push_str(if url.contains('?') { "&" } else { "?" });
        url.push_str("application_name=hotline-test");
    }
    (admin_url, url, database)
}

fn url_with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_end..].find('/').map_or(base.len(), |i| authority_end + i);
    let mut url = format!("{}/{}", &base[..path_start], database);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

pub async fn postgres() -> TestStore {
    let (admin_url, url, database) = fresh_postgres_database().await;
    let clock = clock();
    let store = PostgresEventStore::connect(&url, clock.clone() as Arc<dyn Clock>).await.expect("connect postgres log");
    TestStore { store: Arc::new(store), clock, raw: Raw::Postgres { admin_url, url, database }, _dir: None }
}

impl TestStore {
    /// Runs hand-written SQL against the log's database, as an operator with a shell could.
    pub async fn raw_sql(&self, sql: &str) -> Result<(), String> {
        match &self.raw {
            Raw::Sqlite(path) => {
                let mut conn = connect_raw(path).await.map_err(|e| e.to_string())?;
                conn.execute(sql).await.map(|_| ()).map_err(|e| e.to_string())
            }
            Raw::Postgres { url, .. } => {
                let mut conn = PgConnection::connect(url).await.map_err(|e| e.to_string())?;
                conn.execute(sql).await.map(|_| ()).map_err(|e| e.to_string())
            }
        }
    }

    /// One connection to the log's database for many hand-written statements.
    pub async fn raw_connection(&self) -> RawConnection {
        match &self.raw {
            Raw::Sqlite(path) => RawConnection::Sqlite(connect_raw(path).await.expect("raw sqlite")),
            Raw::Postgres { url, .. } => {
                RawConnection::Postgres(PgConnection::connect(url).await.expect("raw postgres"))
            }
        }
    }

    /// SQL that lets the next statements change events (what an attacker with admin rights does).
    pub fn disable_append_only_sql(&self) -> &'static str {
        match self.raw {
            Raw::Sqlite(_) => "DROP TRIGGER events_are_append_only_update; DROP TRIGGER events_are_append_only_delete;",
            Raw::Postgres { .. } => "ALTER TABLE events DISABLE TRIGGER USER;",
        }
    }

    /// Opens a second store on the same log, as another process would.
    pub async fn reopen(&self) -> Arc<dyn EventStore> {
        match &self.raw {
            Raw::Sqlite(path) => Arc::new(
                SqliteEventStore::open(path, self.clock.clone() as Arc<dyn Clock>).await.expect("reopen sqlite"),
            ),
            Raw::Postgres { url, .. } => Arc::new(
                PostgresEventStore::connect(url, self.clock.clone() as Arc<dyn Clock>).await.expect("reconnect"),
            ),
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Raw::Postgres { admin_url, database, .. } = &self.raw {
            let (admin_url, database) = (admin_url.clone(), database.clone());
            // Drop runs inside the test's runtime; a separate thread with its own runtime may block.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ =
                            admin.execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str()).await;
                    }
                });
            })
            .join();
        }
    }
}

/// Declares each listed async test function once per backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::support::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::support::postgres().await).await
                }
            )*
        }
    };
}

/// A hand-held connection to the log's database.
pub enum RawConnection {
    Sqlite(sqlx::SqliteConnection),
    Postgres(PgConnection),
}

impl RawConnection {
    /// Runs a statement; the database's refusal comes back as text.
    pub async fn execute(&mut self, sql: &str) -> Result<(), String> {
        match self {
            RawConnection::Sqlite(conn) => conn.execute(sql).await.map(|_| ()).map_err(|e| e.to_string()),
            RawConnection::Postgres(conn) => conn.execute(sql).await.map(|_| ()).map_err(|e| e.to_string()),
        }
    }

    /// The first column of the first row, as text.
    pub async fn text(&mut self, sql: &str) -> String {
        match self {
            RawConnection::Sqlite(conn) => sqlx::query_scalar(sql).fetch_one(conn).await.expect(sql),
            RawConnection::Postgres(conn) => sqlx::query_scalar(sql).fetch_one(conn).await.expect(sql),
        }
    }
}

/// The smallest organisation a ticket needs: group `hq` → division `north` → subsidiary `tj01` →
/// station `st01`, each named by its code, created by `admin` at `at`.
pub async fn small_organisation(hotline: &Hotline, at: DateTime<Utc>) {
    for (code, kind, parent) in [
        ("hq", UnitKind::Group, None),
        ("north", UnitKind::Division, Some("hq")),
        ("tj01", UnitKind::Subsidiary, Some("north")),
        ("st01", UnitKind::Station, Some("tj01")),
    ] {
        let command = OrganisationCommand::CreateUnit {
            code: UnitCode(code.into()),
            kind,
            name: code.into(),
            parent: parent.map(|p| UnitCode(p.into())),
        };
        hotline.organisation(&CommandContext::new("admin", "test", at), &command).await.expect("create unit");
    }
}

/// An approver with this role in [`small_organisation`]: a station lead works at st01, a
/// supervisor or subsidiary admin at tj01, a group admin at the group.
pub fn approver(role: Role) -> Approver {
    let (tenant, path) = match role {
        Role::StationLead | Role::FieldWorker => (Some("tj01"), "/hq/north/tj01/st01"),
        Role::GroupAdmin | Role::GroupAuditor => (None, "/hq"),
        _ => (Some("tj01"), "/hq/north/tj01"),
    };
    Approver { roles: vec![role], tenant: tenant.map(|t| TenantId(t.into())), path: OrgPath(path.into()) }
}
