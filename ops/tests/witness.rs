//! Issue 13: a cut-off or rewritten log is found against a witness kept outside the database;
//! `serve` seals (and witnesses) its tail when it stops; the idempotency table is held to the
//! events; `verify` names the key it trusts; `verify` and `replay` work on a read-only copy; an
//! unopenable data directory is one clear error.

#[path = "../../commands/tests/support/mod.rs"]
mod support;

use hotline_commands::store::hash::{canonical_json, recompute};
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::EventStore;
use hotline_commands::witness::{WitnessFile, WitnessRecord};
use sqlx::{Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `hotline` on the embedded log in `data_dir` (or on PostgreSQL at `database_url`).
fn hotline(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
    command.arg("--data-dir").arg(data_dir).args(args).env("HOTLINE_LOG", "warn");
    command.env_remove("HOTLINE_SEAL_PUBLIC_KEY").env_remove("HOTLINE_WITNESS").env_remove("HOTLINE_WITNESS_DIR");
    match database_url {
        Some(url) => command.env("HOTLINE_DATABASE_URL", url),
        None => command.env_remove("HOTLINE_DATABASE_URL"),
    };
    command.output().expect("run hotline")
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    out
}

/// Runs `hotline serve` with a witness directory until it answers, then stops it with SIGTERM as
/// an init system does; it must exit cleanly. Sealing by count or time is pushed out of reach, so
/// the checkpoint it leaves is the one sealed on shutdown.
fn serve_then_sigterm(data_dir: &Path, database_url: Option<&str>, witness: &Path) {
    serve_with_witnesses_then_sigterm(data_dir, database_url, Some(witness), None);
}

/// [`serve_then_sigterm`] with a witness directory, a NATS server (whose witness subject then
/// keeps the checkpoints too), or both.
fn serve_with_witnesses_then_sigterm(
    data_dir: &Path,
    database_url: Option<&str>,
    witness: Option<&Path>,
    nats_url: Option<&str>,
) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--seal-every-events", "1000000", "--seal-every-seconds", "86400"])
        .env("HOTLINE_LOG", "warn")
        .env_remove("HOTLINE_WITNESS_DIR")
        .env_remove("HOTLINE_NATS_URL");
    if let Some(witness) = witness {
        command.arg("--witness-dir").arg(witness);
    }
    if let Some(url) = nats_url {
        command.env("HOTLINE_NATS_URL", url);
    }
    match database_url {
        Some(url) => command.env("HOTLINE_DATABASE_URL", url),
        None => command.env_remove("HOTLINE_DATABASE_URL"),
    };
    let mut child = command.spawn().expect("start serve");
    let started = Instant::now();
    // Serving (answering /healthz) means the signal handlers are in place.
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "serve did not answer /healthz");
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let mut body = String::new();
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
            if stream.read_to_string(&mut body).is_ok() && body.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status:?}");
}

fn witnessed(witness: &Path) -> Vec<WitnessRecord> {
    let (records, unreadable) = WitnessFile::at(witness).read().expect("witness file");
    assert!(unreadable.is_empty(), "every line is a checkpoint");
    records
}

async fn sqlite(data_dir: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite://{}", data_dir.join("hotline.db").display())).await.unwrap()
}

async fn sqlite_scalar(data_dir: &Path, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&mut sqlite(data_dir).await).await.unwrap()
}

/// What an intruder holding the database runs: the triggers go first.
async fn tamper(data_dir: &Path, statements: &[&str]) {
    let mut conn = sqlite(data_dir).await;
    for trigger in ["events_are_append_only_update", "events_are_append_only_delete", "commands_are_append_only_delete"]
    {
        conn.execute(format!("DROP TRIGGER IF EXISTS {trigger}").as_str()).await.unwrap();
    }
    for statement in statements {
        conn.execute(*statement).await.unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Three serve runs, each ending in SIGTERM, with more demo history before each: three witnessed
/// checkpoints, the last one covering every event.
fn witnessed_history(data_dir: &Path, database_url: Option<&str>, witness: &Path) {
    for (events, seed) in [("100", "2026"), ("200", "7"), ("300", "8")] {
        ok(hotline(data_dir, database_url, &["demo", "--events", events, "--seed", seed]));
        serve_then_sigterm(data_dir, database_url, witness);
    }
}

fn verify(data_dir: &Path, database_url: Option<&str>, witness: Option<&Path>) -> Output {
    let mut args = vec!["verify"];
    let witness = witness.map(|w| w.display().to_string());
    if let Some(witness) = &witness {
        args.extend(["--witness", witness]);
    }
    hotline(data_dir, database_url, &args)
}

fn fails_with(out: Output, expected: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "verify must fail:\n{}\n{stderr}", text(&out.stdout));
    assert!(stderr.contains("VERIFY FAILED") && stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
}

#[tokio::test]
async fn serve_stopped_by_sigterm_leaves_a_witnessed_checkpoint_over_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let (data, witness) = (dir.path().join("data"), dir.path().join("witness"));
    witnessed_history(&data, None, &witness);
    let records = witnessed(&witness);
    assert_eq!(records.len(), 3, "one checkpoint sealed at each shutdown: {records:?}");
    let head = sqlite_scalar(&data, "SELECT MAX(global_position) FROM events").await as u64;
    let last_event =
        sqlite_scalar(&data, "SELECT MAX(global_position) FROM events WHERE stream_id <> 'seal-log'").await as u64;
    let latest = records.last().unwrap();
    assert_eq!(latest.position, head, "the last event of the log is the witnessed checkpoint");
    assert_eq!(latest.checkpoint.last_position, last_event, "it covers every event");
    let out = ok(verify(&data, None, Some(&witness)));
    assert!(text(&out.stdout).contains("3 witnessed checkpoints"), "{}", text(&out.stdout));
}

#[tokio::test]
async fn verify_with_a_witness_finds_a_cut_off_or_rewritten_tail_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (data, witness) = (dir.path().join("data"), dir.path().join("witness"));
    witnessed_history(&data, None, &witness);
    let records = witnessed(&witness);
    let head = records.last().unwrap().position;

    // The last 50 events deleted (the last checkpoint with them), and their idempotency rows.
    let cut = dir.path().join("cut");
    copy_dir(&data, &cut);
    let from = head - 50;
    tamper(
        &cut,
        &[
            &format!("DELETE FROM events WHERE global_position > {from}"),
            &format!("DELETE FROM commands WHERE first_position > {from}"),
        ],
    )
    .await;
    ok(verify(&cut, None, None)); // Without a witness this cannot be told from a whole log.
    fails_with(verify(&cut, None, Some(&witness)), &format!("the log ends at position {from}"));

    // Everything after the first checkpoint deleted: the two later checkpoints with it.
    let cut_early = dir.path().join("cut-early");
    copy_dir(&data, &cut_early);
    let first = records[0].position;
    tamper(
        &cut_early,
        &[
            &format!("DELETE FROM events WHERE global_position > {first}"),
            &format!("DELETE FROM commands WHERE first_position > {first}"),
        ],
    )
    .await;
    ok(verify(&cut_early, None, None));
    fails_with(verify(&cut_early, None, Some(&witness)), "the log was cut off");

    // The last checkpoint removed, and the event before it rewritten and re-hashed: the log is
    // consistent in itself, only the witness knows better.
    let rewritten = dir.path().join("rewritten");
    copy_dir(&data, &rewritten);
    let target = head - 1;
    tamper(
        &rewritten,
        &[
            &format!("DELETE FROM events WHERE global_position = {head}"),
            &format!("DELETE FROM commands WHERE first_position = {head}"),
        ],
    )
    .await;
    let store = SqliteEventStore::open_read_only(&rewritten.join("hotline.db")).await.unwrap();
    let mut event = store.read_all(target - 1, 1).await.unwrap().remove(0);
    assert_eq!(event.global_position, target);
    let previous = match event.stream_version {
        1 => None,
        version => Some(store.read_event(&event.stream_id, version - 1).await.unwrap().unwrap().stream_hash),
    };
    event.payload["rewritten"] = serde_json::json!("by an intruder");
    let hash = recompute(previous.as_deref(), &event);
    drop(store);
    tamper(
        &rewritten,
        &[&format!(
            "UPDATE events SET payload = '{}', stream_hash = '{hash}' WHERE global_position = {target}",
            canonical_json(&event.payload).replace('\'', "''")
        )],
    )
    .await;
    ok(verify(&rewritten, None, None));
    fails_with(verify(&rewritten, None, Some(&witness)), "differs from what was witnessed");
}

#[tokio::test]
async fn verify_with_a_witness_finds_a_cut_off_tail_on_postgres() {
    let (_admin, url, database) = support::fresh_postgres_database().await;
    let dir = tempfile::tempdir().unwrap();
    let (data, witness) = (dir.path().join("data"), dir.path().join("witness"));
    // Enough history that tickets remain below the cut (the demo's first ~160 events set up
    // the organisation and its customers).
    ok(hotline(&data, Some(&url), &["demo", "--events", "400"]));
    serve_then_sigterm(&data, Some(&url), &witness);
    let head = witnessed(&witness).last().unwrap().position;
    ok(verify(&data, Some(&url), Some(&witness)));
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    conn.execute("ALTER TABLE events DISABLE TRIGGER USER").await.unwrap();
    conn.execute("ALTER TABLE commands DISABLE TRIGGER USER").await.unwrap();
    let from = head - 50;
    for statement in [
        format!("DELETE FROM events WHERE global_position > {from}"),
        format!("DELETE FROM commands WHERE first_position > {from}"),
        format!("UPDATE log_head SET position = {from}"),
    ] {
        conn.execute(statement.as_str()).await.unwrap();
    }
    ok(verify(&data, Some(&url), None));
    fails_with(verify(&data, Some(&url), Some(&witness)), &format!("the log ends at position {from}"));
    // A replica, a restored backup or a role that may only read: nothing is migrated or written,
    // so `verify` and `replay` work on it (before, both migrated first and were refused).
    let number: String = sqlx::query_scalar(
        "SELECT payload->>'ticket_no' FROM events WHERE event_type = 'TicketCreated' ORDER BY global_position LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let mut admin = sqlx::PgConnection::connect(&support::postgres_admin_url()).await.unwrap();
    admin.execute(format!("ALTER DATABASE {database} SET default_transaction_read_only = on").as_str()).await.unwrap();
    let before = sqlx::PgConnection::connect(&url).await.unwrap();
    drop(before);
    fails_with(verify(&data, Some(&url), Some(&witness)), &format!("the log ends at position {from}"));
    let replayed = text(&ok(hotline(&data, Some(&url), &["replay", "--ticket", &number])).stdout);
    assert!(replayed.contains(&number), "{replayed}");
    let migrate = hotline(&data, Some(&url), &["migrate"]);
    assert!(!migrate.status.success(), "a read-only database refuses writes, so the test is real");
    admin.execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str()).await.unwrap();
}

#[tokio::test]
async fn verify_holds_the_idempotency_table_to_the_events_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    ok(hotline(dir.path(), None, &["demo", "--events", "200"]));
    let out = ok(verify(dir.path(), None, None));
    assert!(text(&out.stdout).contains("idempotency rows"), "{}", text(&out.stdout));

    // Rows deleted: re-sending those acknowledged commands would append them again.
    let deleted = dir.path().join("deleted");
    copy_dir(dir.path(), &deleted);
    let mut conn = sqlite(&deleted).await;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT command_id FROM commands WHERE first_position IS NOT NULL ORDER BY first_position LIMIT 3 OFFSET 40",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
    tamper(&deleted, &[&format!("DELETE FROM commands WHERE command_id IN ({list})")]).await;
    let out = verify(&deleted, None, None);
    let stderr = text(&out.stderr);
    fails_with(out, "has no row in the idempotency table");
    for id in &ids {
        assert!(stderr.contains(id.as_str()), "names {id}: {stderr}");
    }

    // A row whose events are not there (a forged or moved row).
    let forged = dir.path().join("forged");
    copy_dir(dir.path(), &forged);
    let forged_id = "0190d6a4-0000-7000-8000-00000000f0f0";
    tamper(
        &forged,
        &[&format!(
            "INSERT INTO commands (command_id, stream_id, stream_version, first_position, last_position) \
         VALUES ('{forged_id}', 'ticket-x', 1, 5, 5)"
        )],
    )
    .await;
    let out = verify(&forged, None, None);
    let stderr = text(&out.stderr);
    fails_with(out, "no event carries their command id");
    assert!(stderr.contains(forged_id), "{stderr}");
}

#[tokio::test]
async fn verify_says_which_key_it_trusts_and_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("witness");
    ok(hotline(dir.path(), None, &["demo", "--events", "100"]));
    serve_then_sigterm(dir.path(), None, &witness);
    let public_key = witnessed(&witness)[0].checkpoint.public_key.clone();

    let out = ok(verify(dir.path(), None, None));
    assert!(text(&out.stdout).contains(&format!("({public_key}), from the key file")), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("no proof against them"), "{}", text(&out.stderr));

    let out = ok(hotline(dir.path(), None, &["verify", "--public-key", &public_key]));
    assert!(text(&out.stdout).contains(&format!("({public_key}), given by --public-key")), "{}", text(&out.stdout));
    assert!(!text(&out.stderr).contains("no proof"), "{}", text(&out.stderr));

    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("verify")
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_SEAL_PUBLIC_KEY", &public_key)
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("given by HOTLINE_SEAL_PUBLIC_KEY"), "{}", text(&out.stdout));

    let other = hotline_commands::seal::SealKey::generate().public_hex();
    fails_with(hotline(dir.path(), None, &["verify", "--public-key", &other]), "bad signature");
}

/// A directory made read-only for real: a tmpfs remounted read-only where this test may mount
/// (root: file permissions do not stop root, a read-only mount does), else `chmod a-w` (which
/// stops any other user). Unmounted on drop.
struct ReadOnlyDir {
    path: PathBuf,
    mounted: bool,
}

impl ReadOnlyDir {
    fn copy_of(from: &Path, at: &Path) -> ReadOnlyDir {
        std::fs::create_dir_all(at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        copy_dir(from, at);
        if mounted {
            let remounted = Command::new("mount").args(["-o", "remount,ro"]).arg(at).status().unwrap();
            assert!(remounted.success(), "remount read-only");
        } else {
            for entry in std::fs::read_dir(at).unwrap() {
                let path = entry.unwrap().path();
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o444)).unwrap();
            }
            std::fs::set_permissions(at, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        }
        assert!(std::fs::write(at.join("probe"), b"x").is_err(), "{} is read-only", at.display());
        ReadOnlyDir { path: at.to_owned(), mounted }
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        } else {
            let _ = std::fs::set_permissions(&self.path, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        }
    }
}

#[tokio::test]
async fn verify_and_replay_work_on_a_read_only_copy_and_serve_says_why_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let witness = dir.path().join("witness");
    ok(hotline(&data, None, &["demo", "--events", "150"]));
    serve_then_sigterm(&data, None, &witness);
    let number: String = sqlx::query_scalar(
        "SELECT json_extract(payload, '$.ticket_no') FROM events WHERE event_type = 'TicketCreated' LIMIT 1",
    )
    .fetch_one(&mut sqlite(&data).await)
    .await
    .unwrap();
    let copy = ReadOnlyDir::copy_of(&data, &dir.path().join("read-only"));
    let files = |path: &Path| -> Vec<(String, u64, std::time::SystemTime)> {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                (e.file_name().to_string_lossy().into_owned(), m.len(), m.modified().unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = files(&copy.path);

    let out = ok(verify(&copy.path, None, Some(&witness)));
    assert!(text(&out.stdout).contains("no alteration found"), "{}", text(&out.stdout));
    let out = ok(hotline(&copy.path, None, &["replay", "--ticket", &number]));
    assert!(text(&out.stdout).contains("TicketCreated"), "{}", text(&out.stdout));

    // The token key exists (serve made it): minting needs nothing written.
    ok(hotline(&copy.path, None, &["token", "--user", "u", "--roles", "agent", "--tenant", "tj01"]));
    assert_eq!(files(&copy.path), before, "verify, replay and token wrote nothing");

    let out = hotline(&copy.path, None, &["serve", "--listen", "127.0.0.1:0"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let said = if copy.mounted { "read-only file system" } else { "permission denied on" };
    assert!(stderr.contains(said), "serve names the cause: {stderr}");
    assert!(!stderr.contains("unable to open database file"), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "one error: {stderr}");

    // A data directory that does not exist is not created by verify or replay.
    let missing = dir.path().join("no-such-dir");
    let key = hotline_commands::seal::SealKey::generate().public_hex();
    for args in [&["verify", "--public-key", &key][..], &["replay", "--ticket", &number][..]] {
        let out = hotline(&missing, None, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("not found"), "{args:?}: {}", text(&out.stderr));
    }
    assert!(!missing.exists(), "nothing was created");
}

/// A nats-server of the test's own, killed on drop; its JetStream directory is removed after.
struct NatsServer {
    child: std::process::Child,
    _store: tempfile::TempDir,
}

impl NatsServer {
    fn start() -> (NatsServer, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let store = tempfile::tempdir().unwrap();
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server ({e}): run ops/test.sh, or install it with `apt-get install -y nats-server`")
            });
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "nats-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        (NatsServer { child, _store: store }, format!("nats://127.0.0.1:{port}"))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JetStream witness end to end: `serve` with NATS (and no witness directory) keeps each
/// checkpoint on `hotline.witness`, and `verify --witness-nats` holds the log to it.
#[tokio::test]
async fn the_nats_witness_finds_a_cut_off_tail() {
    let (_nats, url) = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(hotline(&data, None, &["demo", "--events", "100"]));
    serve_with_witnesses_then_sigterm(&data, None, None, Some(&url));
    ok(hotline(&data, None, &["demo", "--events", "200", "--seed", "7"]));
    serve_with_witnesses_then_sigterm(&data, None, None, Some(&url));
    let head = sqlite_scalar(&data, "SELECT MAX(global_position) FROM events").await;
    let whole = ok(hotline(&data, None, &["verify", "--witness-nats", &url]));
    let said = text(&whole.stdout);
    assert!(said.contains("hotline.witness") && said.contains(&format!("position {head}")), "{said}");

    let cut = dir.path().join("cut");
    copy_dir(&data, &cut);
    let from = head - 20;
    tamper(
        &cut,
        &[
            &format!("DELETE FROM events WHERE global_position > {from}"),
            &format!("DELETE FROM commands WHERE first_position > {from}"),
        ],
    )
    .await;
    ok(verify(&cut, None, None));
    fails_with(hotline(&cut, None, &["verify", "--witness-nats", &url]), &format!("the log ends at position {from}"));
}
