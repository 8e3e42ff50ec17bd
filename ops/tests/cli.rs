//! The `hotline` binary as an operator uses it: help, demo, verify (also after tampering), serve.

#[path = "../../commands/tests/support/mod.rs"]
mod support;

use sqlx::{Connection, Executor, Row};
use std::path::Path;
use std::process::{Command, Output};

fn hotline(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_LOG", "warn")
        .output()
        .expect("run hotline")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_explains_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotline(dir.path(), &["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for expected in ["serve", "migrate", "demo", "verify", "HOTLINE_DATABASE_URL", "append-only log"] {
        assert!(help.contains(expected), "--help lacks {expected}:\n{help}");
    }
    let out = hotline(dir.path(), &["demo", "--help"]);
    assert!(text(&out.stdout).contains("--seed"));
}

/// What a seed fixes of a demo history: every stream's events, in order. The demo works on several
/// tickets at once, so the order across streams is the log's, and with it the ticket numbers it
/// hands out (the numbering streams' order and `ticket_no`).
fn seeded(events: &[(String, i64, String, String)]) -> Vec<(String, i64, String, String)> {
    let mut seeded: Vec<_> = events
        .iter()
        .map(|(stream, version, event_type, payload)| {
            let mut payload: serde_json::Value = serde_json::from_str(payload).unwrap();
            if let Some(fields) = payload.as_object_mut() {
                fields.remove("ticket_no");
            }
            let version = if stream.starts_with("ticketno-") { 0 } else { *version };
            (stream.clone(), version, event_type.clone(), payload.to_string())
        })
        .collect();
    seeded.sort();
    seeded
}

async fn dump(path: &Path) -> Vec<(String, i64, String, String)> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("SELECT stream_id, stream_version, event_type, payload FROM events ORDER BY global_position")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[tokio::test]
async fn demo_is_deterministic_for_a_seed_and_verifies() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&a, &b] {
        let out = hotline(dir.path(), &["demo", "--events", "600", "--seed", "11"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("tickets"), "{}", text(&out.stdout));
    }
    let (first, second) = (dump(&a.path().join("hotline.db")).await, dump(&b.path().join("hotline.db")).await);
    assert!(first.len() >= 600);
    assert_eq!(seeded(&first), seeded(&second), "same seed, same history");
    let types: std::collections::BTreeSet<&str> = first.iter().map(|e| e.2.as_str()).collect();
    for expected in
        ["UnitCreated", "CustomerRegistered", "TicketCreated", "TicketClosed", "ApprovalGranted", "TicketDispatched"]
            .into_iter()
            .chain(["CallOffered", "CallAnswered", "CallEnded", "CallAbandoned", "AgentSignedIn"])
    {
        assert!(types.contains(expected), "demo lacks {expected}");
    }
    let other_seed = tempfile::tempdir().unwrap();
    assert!(hotline(other_seed.path(), &["demo", "--events", "600", "--seed", "12"]).status.success());
    assert_ne!(
        seeded(&dump(&other_seed.path().join("hotline.db")).await),
        seeded(&first),
        "another seed, another history"
    );
    let out = hotline(a.path(), &["verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no alteration found"));
}

#[tokio::test]
async fn verify_names_the_first_altered_event_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hotline(dir.path(), &["demo", "--events", "300"]).status.success());
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.path().join("hotline.db").display()))
        .await
        .unwrap();
    conn.execute("DROP TRIGGER events_are_append_only_update").await.unwrap();
    let target: i64 =
        sqlx::query_scalar("SELECT MIN(global_position) FROM events WHERE event_type = 'TicketDispatched'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    // Rewriting a row with the very same bytes is no alteration.
    conn.execute(format!("UPDATE events SET payload = payload WHERE global_position = {target}").as_str())
        .await
        .unwrap();
    assert!(hotline(dir.path(), &["verify"]).status.success(), "an untouched log verifies");
    // One character of the dispatcher's name.
    let changed = conn
        .execute(
            format!(
                "UPDATE events SET payload = substr(payload, 1, instr(payload, '\"by\":\"') + 5) || 'X' \
                 || substr(payload, instr(payload, '\"by\":\"') + 7) WHERE global_position = {target}"
            )
            .as_str(),
        )
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let out = hotline(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("VERIFY FAILED") && stderr.contains(&format!("at position {target} ")), "{stderr}");
}

#[tokio::test]
async fn demo_and_verify_on_postgres() {
    let (_admin, url, database) = support::fresh_postgres_database().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env("HOTLINE_DATABASE_URL", &url)
            .env("HOTLINE_LOG", "warn")
            .output()
            .expect("run hotline")
    };
    let out = run(&["demo", "--events", "300"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!dir.path().join("hotline.db").exists(), "PostgreSQL mode writes no SQLite log");
    assert!(run(&["verify"]).status.success());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    conn.execute("ALTER TABLE events DISABLE TRIGGER USER").await.unwrap();
    let target: i64 =
        sqlx::query_scalar("SELECT MIN(global_position) FROM events WHERE event_type = 'TicketDispatched'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let changed = conn
        .execute(
            format!(
                "UPDATE events SET payload = regexp_replace(payload::text, '\"by\":\".', '\"by\":\"X')::json \
                 WHERE global_position = {target}"
            )
            .as_str(),
        )
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let out = run(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("hash mismatch") && stderr.contains(&format!("at position {target} ")), "{stderr}");
    drop(conn);
    let admin_url = support::postgres_admin_url();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    admin.execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str()).await.unwrap();
}

#[tokio::test]
async fn serve_answers_health_checks_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start serve");
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
            stream.read_to_string(&mut body).unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("\"status\":\"ok\"") && body.contains("\"head\":0"), "{body}");
    assert!(
        body.contains("\"tickets\":{") && body.contains("\"customers\":{"),
        "projections report their checkpoints: {body}"
    );
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "serve exits cleanly on SIGTERM: {:?}", out.status);
    // A clean stop is not an error: before, each projection runner stopped by the shutdown logged
    // "projection runner ended" at ERROR, six lines an operator's alerting would page on.
    let logged = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(logged.contains("projection runner stopped"), "{logged}");
    assert!(!logged.contains("ERROR"), "a clean shutdown logs no error:\n{logged}");
    assert!(dir.path().join("hotline.db").exists(), "embedded log created under the data dir");
}

/// Given no PostgreSQL, the bench finds one as `ops/test.sh` does (the local server, else a
/// throwaway cluster of its own) rather than leaving its rows out; it says which, and each row as
/// it runs.
#[test]
fn bench_quick_reports_every_row_beside_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["bench", "--quick", "--out"])
        .arg(dir.path())
        .env_remove("HOTLINE_BENCH_DATABASE_URL")
        .env_remove("HOTLINE_TEST_DATABASE_URL")
        .env("HOTLINE_LOG", "warn")
        .output()
        .expect("run bench");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("bench: PostgreSQL on 127.0.0.1:5432") || stderr.contains("started a throwaway cluster"),
        "{stderr}"
    );
    for step in [
        "bench: SQLite appends",
        "bench: rebuilding every projection",
        "bench: PostgreSQL appends",
        "bench: cqrs-es + postgres-es and disintegrate appends",
    ] {
        assert!(stderr.lines().any(|line| line.starts_with(step) && line.ends_with(" s)")), "{step}: {stderr}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("latest.json")).expect("latest.json")).unwrap();
    let rows = report["rows"].as_array().expect("rows");
    // Eleven with the telephony rows (kamailio and sipp are installed: ops/test.sh installs them)
    // and the two peers.
    assert_eq!(rows.len(), 11, "{report}");
    for row in rows {
        assert!(row["rate"].as_f64().unwrap() > 0.0 && row["baseline_rate"].as_f64().unwrap() > 0.0, "{row}");
        assert!(!row["baseline"].as_str().unwrap().is_empty());
    }
    let stdout = text(&out.stdout);
    assert!(stdout.contains("| SQLite append (group commit), 32 commander(s) |"));
    let named = |prefix: &str| rows.iter().find(|row| row["name"].as_str().unwrap().starts_with(prefix)).cloned();
    let ingestion = named("SIP via Kamailio + HEP3: highest clean call rate").expect("the SIP ingestion row");
    assert!(ingestion["rate"].as_f64().unwrap() >= 25.0, "at least the first step is clean: {ingestion}");
    assert!(ingestion["note"].as_str().unwrap().contains("steps: 25/s clean"), "{ingestion}");
    // Each step counts what the kernel dropped on the adapter's socket (none at 25 calls/s).
    assert!(ingestion["note"].as_str().unwrap().contains("25/s clean (100 calls, SIPp ran"), "{ingestion}");
    assert!(ingestion["note"].as_str().unwrap().contains(", 0 datagrams dropped by the kernel)"), "{ingestion}");
    let pop = named("SIPp INVITE → screenPop delivered to the agent").expect("the screen pop row");
    assert!(pop["p50_ms"].as_f64().unwrap() > 0.0 && pop["p99_ms"].as_f64().unwrap() > 0.0, "{pop}");
    assert!(stdout.contains("- SIPp INVITE → screenPop"), "notes under the table: {stdout}");
    // Issue 14: the peers run on the same PostgreSQL, beside the same raw-INSERT baseline as the
    // log's row, and say which of the log's invariants they do not give.
    let postgres = named("PostgreSQL append, 32 writers").expect("the PostgreSQL row");
    for peer in ["cqrs-es + postgres-es append, 32 writers", "disintegrate append, 32 writers"] {
        let row = named(peer).unwrap_or_else(|| panic!("the {peer} row: {report}"));
        assert!(row["rate"].as_f64().unwrap() > 0.0 && row["p99_ms"].as_f64().unwrap() > 0.0, "{row}");
        assert_eq!(row["operations"], postgres["operations"], "as many appends as the log's row: {row}");
        assert_eq!(row["baseline_rate"], postgres["baseline_rate"], "the same baseline: {row}");
        let note = row["note"].as_str().unwrap();
        assert!(note.contains("Not given: ") && note.contains("tamper evidence"), "{row}");
        assert!(stdout.contains(&format!("- {peer}: ")), "notes under the table: {stdout}");
    }
    let disintegrate = named("disintegrate append").unwrap();
    assert!(disintegrate["note"].as_str().unwrap().contains("holes in `event_id`"), "{disintegrate}");
}

#[test]
fn rebuild_replays_every_projection_and_names_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hotline(dir.path(), &["demo", "--events", "300"]).status.success());
    let out = hotline(dir.path(), &["rebuild"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for projection in ["tickets", "approvals", "customers", "calls", "call_kpis", "agents"] {
        assert!(stdout.contains(&format!("rebuilt {projection}: ")), "{stdout}");
    }
    assert!(stdout.contains("events/s"));
    let out = hotline(dir.path(), &["rebuild", "tickets"]);
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let out = hotline(dir.path(), &["rebuild", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("known: tickets, approvals, customers, calls, call_kpis, agents"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn serve_publishes_the_log_to_nats_jetstream() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hotline(dir.path(), &["demo", "--events", "200"]).status.success());
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (nats_port, http_port) = (free(), free());
    let mut nats = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &nats_port.to_string(), "-sd"])
        .arg(dir.path().join("nats"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server: run ops/test.sh or `apt-get install -y nats-server`");
    let url = format!("nats://127.0.0.1:{nats_port}");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--nats-url", &url, "serve", "--listen", &format!("127.0.0.1:{http_port}")])
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_LOG", "warn")
        .spawn()
        .expect("start serve");
    let head: i64 = {
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.path().join("hotline.db").display()))
                .await
                .unwrap();
        sqlx::query_scalar("SELECT MAX(global_position) FROM events").fetch_one(&mut conn).await.unwrap()
    };
    let started = std::time::Instant::now();
    let mut published = 0;
    while started.elapsed() < std::time::Duration::from_secs(60) {
        if let Ok(client) = async_nats::connect(&url).await {
            if let Ok(mut stream) = async_nats::jetstream::new(client).get_stream("HOTLINE_EVENTS").await {
                published = stream.info().await.map(|i| i.state.messages).unwrap_or(0);
                if published as i64 >= head {
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = serve.kill();
    let _ = nats.kill();
    let _ = (serve.wait(), nats.wait());
    assert_eq!(published as i64, head, "every event of the log reached JetStream");
}

// Regression: `hotline demo --events N | head -1` panicked with "failed printing to stdout:
// Broken pipe" once the reader had gone.
#[test]
fn output_to_a_closed_pipe_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["demo", "--events", "200"])
        .env_remove("HOTLINE_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn serve_seals_the_log_and_verify_checks_the_signed_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hotline(dir.path(), &["demo", "--events", "300"]).status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--seal-every-events", "100"])
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_LOG", "warn")
        .spawn()
        .expect("start serve");
    let db = format!("sqlite://{}", dir.path().join("hotline.db").display());
    let mut sealed = 0i64;
    for _ in 0..100 {
        let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
        sealed = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE stream_id = 'seal-log'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if sealed > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(sealed, 1, "one checkpoint over the demo's events");
    let out = hotline(dir.path(), &["verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(", 1 signed checkpoints"), "{}", text(&out.stdout));
    // Checked against another key, the checkpoint is refused.
    let other_key = hotline_commands::seal::SealKey::generate().public_hex();
    let out = hotline(dir.path(), &["verify", "--public-key", &other_key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("bad signature"), "{}", text(&out.stderr));
    // A checkpoint changed by hand no longer matches the log.
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    conn.execute("DROP TRIGGER events_are_append_only_update").await.unwrap();
    conn.execute("UPDATE events SET payload = REPLACE(payload, '\"checkpoint_no\":1', '\"checkpoint_no\":7') WHERE stream_id = 'seal-log'")
        .await
        .unwrap();
    let out = hotline(dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("VERIFY FAILED"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn replay_prints_a_tickets_history_and_its_state_at_an_instant() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hotline(dir.path(), &["demo", "--events", "300"]).status.success());
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.path().join("hotline.db").display()))
        .await
        .unwrap();
    let (payload, recorded_at): (String, String) = sqlx::query_as(
        "SELECT payload, recorded_at FROM events WHERE event_type = 'TicketCreated' ORDER BY global_position LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let number = serde_json::from_str::<serde_json::Value>(&payload).unwrap()["ticket_no"].as_str().unwrap().to_owned();
    let now = hotline(dir.path(), &["replay", "--ticket", &number]);
    assert!(now.status.success(), "{}", text(&now.stderr));
    let now = text(&now.stdout);
    assert!(now.contains("TicketCreated") && now.contains("TicketDispatched"), "{now}");
    let then = text(&hotline(dir.path(), &["replay", "--ticket", &number, "--at", &recorded_at]).stdout);
    assert!(then.contains("state: status=registered"), "at its creation it was registered: {then}");
    assert!(!then.contains("TicketDispatched"), "{then}");
    let before = text(&hotline(dir.path(), &["replay", "--ticket", &number, "--at", "2000-01-01T00:00:00Z"]).stdout);
    assert!(before.contains("did not exist yet"), "{before}");
    let missing = hotline(dir.path(), &["replay", "--ticket", "tj01-1999-000001"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no ticket tj01-1999-000001"), "{}", text(&missing.stderr));
}

async fn scalar(db: &Path, sql: &str) -> String {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let value: String = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    value
}

async fn head(db: &Path) -> String {
    scalar(db, "SELECT CAST(MAX(global_position) AS TEXT) FROM events").await
}

/// Issue 6: an export needs an approved request for exactly its scope (four eyes), is recorded,
/// and its bundle verifies offline; any changed byte of any file of the bundle is found.
#[tokio::test]
async fn export_needs_an_approved_request_and_its_bundle_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotline.db");
    assert!(hotline(dir.path(), &["demo", "--events", "600", "--seed", "5"]).status.success());
    // A ticket that went through an approval, so the bundle holds two streams.
    let ticket = scalar(
        &db,
        "SELECT json_extract(payload, '$.ticket_no') FROM events WHERE event_type = 'ApprovalRequested' LIMIT 1",
    )
    .await;
    let other = scalar(&db, &format!("SELECT json_extract(payload, '$.ticket_no') FROM events WHERE event_type = 'TicketCreated' AND json_extract(payload, '$.ticket_no') <> '{ticket}' LIMIT 1")).await;
    let out_dir = dir.path().join("bundle");
    let out = out_dir.to_str().unwrap();
    let before = head(&db).await;

    let refused = hotline(dir.path(), &["export", "--ticket", &ticket, "--by", "auditor1", "--out", out]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("needs an approved request"), "{}", text(&refused.stderr));
    assert_eq!(head(&db).await, before, "a refused export appends nothing");

    let asked = hotline(
        dir.path(),
        &["export-request", "--ticket", &ticket, "--reason", "供热办调阅函 2026-17", "--by", "auditor1"],
    );
    assert!(asked.status.success(), "{}", text(&asked.stderr));
    let request = text(&asked.stdout).trim().to_owned();
    let pending =
        hotline(dir.path(), &["export", "--ticket", &ticket, "--request", &request, "--by", "auditor1", "--out", out]);
    assert!(text(&pending.stderr).contains("Pending"), "{}", text(&pending.stderr));
    let own = hotline(dir.path(), &["export-decide", &request, "--by", "auditor1"]);
    assert!(text(&own.stderr).contains("four eyes"), "{}", text(&own.stderr));
    let approved = hotline(dir.path(), &["export-decide", &request, "--by", "admin1", "--reason", "同意"]);
    assert!(approved.status.success(), "{}", text(&approved.stderr));
    let wrong =
        hotline(dir.path(), &["export", "--ticket", &other, "--request", &request, "--by", "auditor1", "--out", out]);
    assert!(text(&wrong.stderr).contains("the approved request covers"), "{}", text(&wrong.stderr));
    assert!(!out_dir.exists(), "nothing written while refused");

    let exported =
        hotline(dir.path(), &["export", "--ticket", &ticket, "--request", &request, "--by", "auditor1", "--out", out]);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let produced = scalar(
        &db,
        "SELECT json_extract(payload, '$.manifest_sha256') FROM events WHERE event_type = 'ExportProduced'",
    )
    .await;
    assert!(text(&exported.stdout).contains(&produced), "the log records the manifest's hash");
    let csv = std::fs::read(out_dir.join("summary.csv")).unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM for Excel");
    assert!(String::from_utf8(csv).unwrap().contains("日志位置,记录时间(北京时间)"));
    let events = std::fs::read_to_string(out_dir.join("events.jsonl")).unwrap();
    assert!(events.contains("ApprovalRequested") && events.contains("TicketCreated"));

    let verified = hotline(dir.path(), &["verify-export", out]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(text(&verified.stdout).contains("bundle intact"), "{}", text(&verified.stdout));
    let foreign = hotline(dir.path(), &["verify-export", out, "--public-key", &"ab".repeat(32)]);
    assert_eq!(foreign.status.code(), Some(1), "another key: {}", text(&foreign.stderr));

    // Every file: one changed byte (at several places) is found.
    for file in ["events.jsonl", "proofs.jsonl", "checkpoint.json", "summary.csv", "manifest.json", "manifest.sig"] {
        let path = out_dir.join(file);
        let original = std::fs::read(&path).unwrap();
        for at in [0, original.len() / 3, original.len() / 2, original.len() - 2] {
            let mut changed = original.clone();
            changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
            std::fs::write(&path, &changed).unwrap();
            let out = hotline(dir.path(), &["verify-export", out]);
            assert_eq!(out.status.code(), Some(1), "{file} byte {at} changed, not found");
            assert!(text(&out.stderr).contains("BUNDLE VERIFY FAILED"));
        }
        std::fs::write(&path, &original).unwrap();
    }
    assert!(hotline(dir.path(), &["verify-export", out]).status.success(), "restored");

    // Whoever holds the seal key can re-sign a manifest, but not put an altered event under the
    // checkpoint that is in the log.
    let secret = std::fs::read_to_string(dir.path().join("seal-ed25519.key")).unwrap();
    let secret: [u8; 32] = hex::decode(secret.trim()).unwrap().try_into().unwrap();
    let key = hotline_commands::seal::SealKey::from_bytes(&secret);
    let forged = events.replacen("\"tenant\":\"", "\"tenant\":\"x", 1);
    std::fs::write(out_dir.join("events.jsonl"), &forged).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("manifest.json")).unwrap()).unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(forged.as_bytes()));
    manifest["files"][0][1] = serde_json::Value::String(digest);
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    std::fs::write(out_dir.join("manifest.json"), &manifest).unwrap();
    std::fs::write(out_dir.join("manifest.sig"), key.sign(&manifest)).unwrap();
    let out = hotline(dir.path(), &["verify-export", out]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("was altered: hash mismatch"), "{}", text(&out.stderr));
}
