//! What each projection's runner is doing, kept in memory so that health checks answer at once
//! whatever the database does, and which database errors pass by themselves.
//!
//! A database error is *transient* when it says nothing about the event being applied: the
//! connection was lost or refused, the pool timed out, the server is shutting down or starting,
//! a serialisation failure or deadlock, insufficient resources (disk full, out of memory, too many
//! connections), a busy or locked SQLite file or an I/O error. The runner retries those with
//! capped back-off until they pass. Anything else (a decode error, a constraint the event
//! violates, SQL the server refuses) is *permanent*: the projection stops at that event.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A projection is `stalled` when it has been behind the head this long without applying anything.
pub const STALLED_AFTER: Duration = Duration::from_secs(30);

/// Whether a database error may pass by itself (retry) rather than needing a fix (stop).
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        // The server hung up in the middle of a message.
        sqlx::Error::Protocol(message) => message.contains("unexpected end") || message.contains("closed"),
        sqlx::Error::Database(error) => error.code().is_some_and(|code| code_is_transient(&code)),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs (always five characters) and SQLite extended result codes (decimal,
/// below 10000) that pass by themselves.
fn code_is_transient(code: &str) -> bool {
    if let (true, Ok(sqlite)) = (code.len() < 5, code.parse::<u32>()) {
        // The primary result code is the low byte: SQLITE_BUSY 5, LOCKED 6, NOMEM 7, READONLY 8,
        // IOERR 10, FULL 13, CANTOPEN 14, PROTOCOL 15.
        return matches!(sqlite & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14 | 15);
    }
    // Class 08: connection exception; 53: insufficient resources (53100 disk full); 58: system
    // error (I/O); 40001 serialization failure, 40P01 deadlock; 55P03 lock not available;
    // 57P01..57P05: admin or crash shutdown, cannot connect now, idle session time-out.
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("58")
        || matches!(code, "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "57P05")
}

/// A short name an operator can act on for a database error's cause, from its text: `disk full`,
/// `database unreachable`, `database read-only`, or `database error`.
pub fn fault_kind(message: &str) -> &'static str {
    let message = message.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|needle| message.contains(needle));
    if any(&["disk is full", "no space left", "could not extend", "code: 13)", "53100", "disk full"]) {
        "disk full"
    } else if any(&["readonly", "read-only", "read only"]) {
        "database read-only"
    } else if any(&[
        "connection refused",
        "pool timed out",
        "timed out while waiting for an open connection",
        "connection reset",
        "broken pipe",
        "unexpected end of file",
        "terminating connection",
        "the database system is",
        "connection closed",
        "error communicating with database",
        "at eof",
        "no answer within",
    ]) {
        "database unreachable"
    } else {
        "database error"
    }
}

/// What a projection's runner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProjectionStatus {
    /// Its runner has not finished a first batch yet.
    Starting,
    /// Applying batches towards the head.
    CatchingUp,
    /// At the head, waiting for the next commit.
    Running,
    /// A transient error: the batch is retried with back-off.
    Retrying,
    /// Behind the head and nothing applied for [`STALLED_AFTER`] without an error (a lock held
    /// elsewhere, a hung query).
    Stalled,
    /// Stopped at an event it cannot apply; needs a fix and a rebuild.
    Failed,
    /// Its runner task is gone (a panic, or the log closed): restart the process.
    Ended,
}

impl ProjectionStatus {
    /// Every status, for metrics that show one series per status.
    pub const ALL: [ProjectionStatus; 7] = [
        ProjectionStatus::Starting,
        ProjectionStatus::CatchingUp,
        ProjectionStatus::Running,
        ProjectionStatus::Retrying,
        ProjectionStatus::Stalled,
        ProjectionStatus::Failed,
        ProjectionStatus::Ended,
    ];

    /// Its wire name: `starting`, `catching_up`, `running`, `retrying`, `stalled`, `failed`, `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectionStatus::Starting => "starting",
            ProjectionStatus::CatchingUp => "catching_up",
            ProjectionStatus::Running => "running",
            ProjectionStatus::Retrying => "retrying",
            ProjectionStatus::Stalled => "stalled",
            ProjectionStatus::Failed => "failed",
            ProjectionStatus::Ended => "ended",
        }
    }
}

/// One projection's health as this process sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionHealth {
    /// The projection's id.
    pub projection: &'static str,
    /// What its runner is doing.
    pub status: ProjectionStatus,
    /// The last position it applied (as this process last saw it).
    pub position: u64,
    /// Events it is behind the last head this process knows of.
    pub lag_events: u64,
    /// How long it has been behind the head without interruption (zero when level with it).
    pub lag: Duration,
    /// The error it is retrying or stopped on.
    pub error: Option<String>,
    /// The event it stopped on, when failed.
    pub failed_position: Option<u64>,
    /// Attempts at the current batch that failed with a transient error.
    pub retries: u32,
    /// How long it has been in this status.
    pub for_how_long: Duration,
}

#[derive(Debug, Clone)]
struct Tracked {
    status: ProjectionStatus,
    position: u64,
    error: Option<String>,
    failed_position: Option<u64>,
    retries: u32,
    status_since: Instant,
    advanced_at: Instant,
    behind_since: Option<Instant>,
}

/// The runner's in-memory record of every projection (a plain mutex: held for microseconds,
/// never across an await).
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    projections: Mutex<BTreeMap<&'static str, Tracked>>,
}

impl Tracker {
    pub(crate) fn new(ids: impl IntoIterator<Item = &'static str>) -> Tracker {
        let now = Instant::now();
        let projections = ids
            .into_iter()
            .map(|id| {
                let tracked = Tracked {
                    status: ProjectionStatus::Starting,
                    position: 0,
                    error: None,
                    failed_position: None,
                    retries: 0,
                    status_since: now,
                    advanced_at: now,
                    behind_since: None,
                };
                (id, tracked)
            })
            .collect();
        Tracker { projections: Mutex::new(projections) }
    }

    fn update(&self, id: &'static str, change: impl FnOnce(&mut Tracked)) {
        let mut projections = self.projections.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tracked) = projections.get_mut(id) {
            change(tracked);
        }
    }

    fn set_status(tracked: &mut Tracked, status: ProjectionStatus) {
        if tracked.status != status {
            tracked.status = status;
            tracked.status_since = Instant::now();
        }
    }

    /// The projection applied up to `position`, with `head` the head known now.
    pub(crate) fn advanced(&self, id: &'static str, position: u64, head: u64) {
        self.update(id, |t| {
            if position > t.position {
                t.advanced_at = Instant::now();
            }
            t.position = position;
            t.error = None;
            t.failed_position = None;
            t.retries = 0;
            if position >= head {
                t.behind_since = None;
                Self::set_status(t, ProjectionStatus::Running);
            } else {
                t.behind_since.get_or_insert_with(Instant::now);
                Self::set_status(t, ProjectionStatus::CatchingUp);
            }
        });
    }

    /// The runner saw the head at `head` (before a batch).
    pub(crate) fn saw_head(&self, id: &'static str, head: u64) {
        self.update(id, |t| {
            if head > t.position {
                t.behind_since.get_or_insert_with(Instant::now);
            }
        });
    }

    /// A transient error; the batch will be retried.
    pub(crate) fn retrying(&self, id: &'static str, error: String) {
        self.update(id, |t| {
            t.retries += 1;
            t.error = Some(error);
            Self::set_status(t, ProjectionStatus::Retrying);
        });
    }

    /// Stopped at `failed_position`.
    pub(crate) fn failed(&self, id: &'static str, position: u64, failed_position: u64, error: String) {
        self.update(id, |t| {
            t.position = position;
            t.failed_position = Some(failed_position);
            t.error = Some(error);
            t.retries = 0;
            Self::set_status(t, ProjectionStatus::Failed);
        });
    }

    /// The runner task is gone.
    pub(crate) fn ended(&self, id: &'static str, why: String) {
        self.update(id, |t| {
            t.error = Some(why);
            Self::set_status(t, ProjectionStatus::Ended);
        });
    }

    /// Every projection's health against the head known now.
    pub(crate) fn health(&self, head: u64) -> Vec<ProjectionHealth> {
        let projections = self.projections.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        projections
            .iter()
            .map(|(id, t)| {
                let lag_events = head.saturating_sub(t.position);
                let lag = match t.behind_since {
                    Some(since) if lag_events > 0 => now.duration_since(since),
                    _ => Duration::ZERO,
                };
                let quiet = t.behind_since.map_or(t.advanced_at, |since| since.max(t.advanced_at));
                let stalled = lag_events > 0
                    && matches!(t.status, ProjectionStatus::Running | ProjectionStatus::CatchingUp)
                    && now.duration_since(quiet) > STALLED_AFTER;
                let status = if stalled { ProjectionStatus::Stalled } else { t.status };
                ProjectionHealth {
                    projection: id,
                    status,
                    position: t.position,
                    lag_events,
                    lag,
                    error: t.error.clone(),
                    failed_position: t.failed_position,
                    retries: t.retries,
                    for_how_long: now.duration_since(t.status_since),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A database error with a given code, as a driver would return it.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn check(error: sqlx::Error, transient: bool) {
        let text = format!("{error:?}");
        assert_eq!(is_transient(&error), transient, "{text}");
    }

    #[test]
    fn errors_of_the_environment_are_transient_and_errors_of_the_event_are_not() {
        let io = |kind| sqlx::Error::Io(std::io::Error::from(kind));
        check(io(std::io::ErrorKind::ConnectionRefused), true);
        check(io(std::io::ErrorKind::UnexpectedEof), true);
        check(sqlx::Error::PoolTimedOut, true);
        check(sqlx::Error::PoolClosed, true);
        check(sqlx::Error::WorkerCrashed, true);
        check(sqlx::Error::Protocol("unexpected end of message".into()), true);
        for code in [
            "08006", "08001", "08P01", "53100", "53200", "53300", "58030", "40001", "40P01", "55P03", "57P01", "57P02",
            "57P03",
        ] {
            check(sqlx::Error::Database(Box::new(Coded(code))), true);
        }
        // SQLite: BUSY, BUSY_SNAPSHOT (517), LOCKED, READONLY, IOERR, IOERR_WRITE (778), FULL, CANTOPEN.
        for code in ["5", "517", "6", "8", "10", "778", "13", "14"] {
            check(sqlx::Error::Database(Box::new(Coded(code))), true);
        }
        // What a bad event or a bug causes: a constraint, a syntax error, a type mismatch.
        for code in ["23505", "23502", "23514", "42601", "42P01", "22P02", "19", "2067", "1"] {
            check(sqlx::Error::Database(Box::new(Coded(code))), false);
        }
        check(sqlx::Error::RowNotFound, false);
        check(sqlx::Error::ColumnNotFound("position".into()), false);
        check(sqlx::Error::Decode("not a number".into()), false);
        check(sqlx::Error::Protocol("unknown message type".into()), false);
    }

    #[test]
    fn fault_kinds_name_what_an_operator_does() {
        let cases = [
            ("error returned from database: (code: 13) database or disk is full", "disk full"),
            ("could not extend file \"base/16384/16385\": No space left on device", "disk full"),
            ("error communicating with database: Connection refused (os error 111)", "database unreachable"),
            ("pool timed out while waiting for an open connection", "database unreachable"),
            ("terminating connection due to administrator command", "database unreachable"),
            ("log: no answer within 1000 ms; read models: no answer within 1000 ms", "database unreachable"),
            ("attempt to write a readonly database", "database read-only"),
            ("duplicate key value violates unique constraint", "database error"),
        ];
        for (message, kind) in cases {
            assert_eq!(fault_kind(message), kind, "{message}");
        }
    }

    #[test]
    fn lag_is_measured_from_when_it_fell_behind_and_a_quiet_projection_is_not_stalled() {
        let tracker = Tracker::new(["tickets"]);
        tracker.advanced("tickets", 10, 10);
        let [health] = tracker.health(10).try_into().expect("one projection");
        assert_eq!((health.status, health.lag_events, health.lag), (ProjectionStatus::Running, 0, Duration::ZERO));
        tracker.saw_head("tickets", 15);
        std::thread::sleep(Duration::from_millis(20));
        let [health] = tracker.health(15).try_into().expect("one projection");
        assert_eq!((health.status, health.lag_events), (ProjectionStatus::Running, 5));
        assert!(health.lag >= Duration::from_millis(20), "{health:?}");
        tracker.retrying("tickets", "pool timed out".into());
        tracker.retrying("tickets", "pool timed out".into());
        let [health] = tracker.health(15).try_into().expect("one projection");
        assert_eq!(
            (health.status, health.retries, health.error.as_deref()),
            (ProjectionStatus::Retrying, 2, Some("pool timed out"))
        );
        tracker.advanced("tickets", 15, 15);
        let [health] = tracker.health(15).try_into().expect("one projection");
        assert_eq!(
            (health.status, health.retries, health.lag, health.error),
            (ProjectionStatus::Running, 0, Duration::ZERO, None)
        );
    }
}
