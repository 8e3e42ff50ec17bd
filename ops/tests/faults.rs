//! Faults an operator meets, against a real `hotline serve` (issue 13): a PostgreSQL cluster of
//! the test's own, killed (`pg_ctl stop -m immediate`) and restarted under write load, and a full
//! disk under the embedded store. Neither ever touches the machine's shared PostgreSQL.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hotline(dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_LOG", "warn")
        .envs(envs.iter().copied())
        .output()
        .expect("run hotline");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn serve(dir: &Path, envs: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_LOG", "warn,sqlx=error,hotline_projections=error")
        .envs(envs.iter().copied())
        .spawn()
        .expect("start serve");
    let server = Server { child, base: format!("http://127.0.0.1:{port}") };
    for _ in 0..100 {
        if reqwest::get(format!("{}/readyz", server.base)).await.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("serve did not become ready");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// GETs `path`: status, body and how long it took.
async fn get(server: &Server, path: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = client().get(format!("{}{path}", server.base)).send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap(), started.elapsed())
}

async fn get_json(server: &Server, path: &str) -> (u16, Value, Duration) {
    let (status, body, took) = get(server, path).await;
    (status, serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: {body}")), took)
}

const CREATE: &str =
    "mutation { createTicket(input: { type: \"repair\", address: \"幸福里\", description: \"暖气不热\" }) { position readModelsCurrent ticket { id } } }";

/// Creates a ticket: its id when acknowledged, else the error code, and how long it took. A
/// payload is an acknowledgement (committed); its ticket is null only when the read models did
/// not show it in time, which is then `readModelsCurrent: false`.
async fn create_ticket(base: &str, token: &str) -> (Result<String, String>, Duration) {
    let started = Instant::now();
    let response = client().post(format!("{base}/graphql")).bearer_auth(token).json(&json!({ "query": CREATE })).send();
    let Ok(body) = async { response.await?.json::<Value>().await }.await else {
        return (Err("no answer".to_owned()), started.elapsed());
    };
    let payload = &body["data"]["createTicket"];
    let outcome = match payload["ticket"]["id"].as_str() {
        Some(id) => Ok(id.to_owned()),
        None if payload["position"].is_u64() => {
            assert_eq!(payload["readModelsCurrent"], false, "a ticket not shown is said so: {body}");
            Ok(String::new())
        }
        None => Err(body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none").to_owned()),
    };
    (outcome, started.elapsed())
}

/// Polls `/readyz` until it answers 200; how long that took.
async fn until_ready(server: &Server, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body, _) = get(server, "/readyz").await;
        if status == 200 {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "not ready within {within:?}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn metric(text: &str, series: &str) -> f64 {
    let line = text.lines().find(|line| line.starts_with(series)).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Issue 13: a PostgreSQL restart under write load ended every projection task that was
/// mid-batch and nothing restarted them; `/healthz` said `ok` (and took 60 s), and requests hung
/// 30 s. Now: liveness answers within a second and says the database is down and what each
/// projection does, readiness is 503, a mutation fails fast with UNAVAILABLE, and once the
/// database is back every projection catches up by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_load_is_reported_and_the_read_side_catches_up_by_itself() {
    use sqlx::{Connection, Executor};
    let cluster =
        hotline_ops::throwaway::PostgresCluster::start(false).expect("a PostgreSQL cluster of the test's own");
    let dir = tempfile::tempdir().unwrap();
    let url = cluster.url();
    let env = [("HOTLINE_DATABASE_URL", url.as_str())];
    hotline(dir.path(), &env, &["demo", "--events", "50"]);
    let token = hotline(dir.path(), &env, &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
    let server = serve(dir.path(), &env).await;

    // Eight clients write tickets until told to stop; every acknowledged ticket is kept.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (base, token, acknowledged, stop) =
                (server.base.clone(), token.clone(), Arc::clone(&acknowledged), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match create_ticket(&base, &token).await {
                        (Ok(id), _) => acknowledged.lock().unwrap().push(id),
                        (Err(_), _) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Hold every projection mid-batch: a lock on the checkpoints makes each batch wait, while
    // commits keep waking them. Then the server dies under them.
    let mut blocker = sqlx::PgConnection::connect(&url).await.unwrap();
    blocker.execute("BEGIN").await.unwrap();
    blocker.execute("LOCK TABLE rm_checkpoints IN EXCLUSIVE MODE").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = Instant::now();
    cluster.kill().unwrap();
    drop(blocker);

    // Liveness answers at once and tells the truth.
    let mut liveness_slowest = Duration::ZERO;
    let mut seen_down = false;
    let mut retrying = std::collections::BTreeSet::new();
    while killed_at.elapsed() < Duration::from_secs(6) {
        let (status, health, took) = get_json(&server, "/healthz").await;
        liveness_slowest = liveness_slowest.max(took);
        assert_eq!(status, 200, "{health}");
        assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
        if health["database"]["up"] == false {
            seen_down = true;
            assert_eq!(health["status"], "degraded", "{health}");
            assert_eq!(health["database"]["error"]["kind"], "database unreachable", "{health}");
        }
        for (id, projection) in health["projections"].as_object().unwrap() {
            assert_ne!(projection["status"], "failed", "a transient error never fails {id}: {health}");
            assert_ne!(projection["status"], "ended", "{id}: {health}");
            if projection["status"] == "retrying" {
                assert!(projection["error"].as_str().is_some_and(|e| !e.is_empty()), "{health}");
                retrying.insert(id.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen_down, "/healthz never said the database is down");
    let (_, health, _) = get_json(&server, "/healthz").await;
    let projections: std::collections::BTreeSet<String> =
        health["projections"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(retrying, projections, "every projection was mid-batch, and each says it retries: {health}");

    let (status, readiness, took) = get_json(&server, "/readyz").await;
    assert_eq!(status, 503, "{readiness}");
    assert!(took < Duration::from_millis(1500), "/readyz took {took:?}");
    assert!(readiness["reasons"][0].as_str().unwrap().starts_with("database unreachable"), "{readiness}");
    let (status, metrics, took) = get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "/metrics took {took:?}");
    assert_eq!(metric(&metrics, "hotline_database_up "), 0.0, "{metrics}");
    assert_eq!(metric(&metrics, "hotline_projection_status{projection=\"tickets\",status=\"retrying\"}"), 1.0);

    // Requests fail fast, with UNAVAILABLE.
    let (outcome, unavailable_after) = create_ticket(&server.base, &token).await;
    assert_eq!(outcome, Err("UNAVAILABLE".to_owned()));
    assert!(unavailable_after < Duration::from_secs(5), "UNAVAILABLE after {unavailable_after:?}");

    cluster.start_again().unwrap();
    let outage = killed_at.elapsed();

    // Every projection catches up by itself, and the service is ready again without a restart;
    // the writers go on a while longer.
    let ready_after = until_ready(&server, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let (outcome, _) = create_ticket(&server.base, &token).await;
    let last = outcome.expect("a command after the outage is acknowledged");
    let acknowledged: Vec<String> =
        acknowledged.lock().unwrap().iter().cloned().chain([last]).filter(|id| !id.is_empty()).collect();
    let mut caught_up = false;
    for _ in 0..100 {
        let (_, health, _) = get_json(&server, "/healthz").await;
        let head = health["head"].as_u64().unwrap();
        caught_up = health["projections"].as_object().unwrap().values().all(|p| p["position"] == head);
        if caught_up && health["status"] == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(caught_up, "{}", get_json(&server, "/healthz").await.1);
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let shown: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rm_ticket WHERE ticket_id = ANY($1)")
        .bind(&acknowledged)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(shown as usize, acknowledged.len(), "every acknowledged ticket is in the ticket list");
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rm_checkpoints WHERE status <> 'running'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(failed, 0, "nothing transient was stored as a failure");
    let (_, metrics, _) = get(&server, "/metrics").await;
    assert_eq!(metric(&metrics, "hotline_database_up "), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "hotline_projection_status{projection=\"tickets\",status=\"running\"}"), 1.0);
    assert_eq!(metric(&metrics, "hotline_projection_failed{projection=\"tickets\"}"), 0.0);
    eprintln!(
        "outage {outage:?}; /healthz slowest {liveness_slowest:?}; UNAVAILABLE after {unavailable_after:?}; \
         ready {ready_after:?} after the restart; {} tickets acknowledged",
        acknowledged.len()
    );
}

/// A tmpfs of a few megabytes, unmounted on drop. Mounting needs root.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::Builder::new().prefix("hotline-faults-disk").tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "the full-disk test mounts a small tmpfs, which needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let one = [0u8; 1];
        while file.write_all(&one).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Issue 13: a full disk returned UNAVAILABLE correctly but `/healthz` stayed `ok`. Now health
/// says appends fail because the disk is full and readiness is 503 until space is freed; then
/// writes and the read models carry on without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_is_reported_and_the_service_carries_on_once_space_is_freed() {
    let disk = SmallDisk::mount(24);
    let dir = disk.path().join("data");
    hotline(&dir, &[], &["demo", "--events", "50"]);
    let token = hotline(&dir, &[], &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
    let server = serve(&dir, &[]).await;
    let (outcome, _) = create_ticket(&server.base, &token).await;
    outcome.expect("a ticket before the disk fills");

    // The log's write-ahead file may still have room in pages it already holds, where an append
    // commits on a full disk (and rightly answers success). Emptied first, the next append needs
    // a new page; a few tries allow for a checkpoint the server was running.
    for file in ["hotline.db", "readmodels.db"] {
        use sqlx::Connection;
        let url = format!("sqlite://{}", dir.join(file).display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.unwrap();
    }
    let filler = disk.fill();
    let mut committed_on_a_full_disk = 0;
    let (outcome, took) = loop {
        let (outcome, took) = create_ticket(&server.base, &token).await;
        match outcome {
            Ok(_) if committed_on_a_full_disk < 3 => committed_on_a_full_disk += 1,
            outcome => break (outcome, took),
        }
    };
    assert_eq!(outcome, Err("UNAVAILABLE".to_owned()), "a write on a full disk, after {committed_on_a_full_disk}");
    assert!(took < Duration::from_secs(5), "UNAVAILABLE after {took:?}");
    let (status, health, took) = get_json(&server, "/healthz").await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        (&health["appends"]["failing"], &health["appends"]["kind"]),
        (&json!(true), &json!("disk full")),
        "{health}"
    );
    let (status, readiness, _) = get_json(&server, "/readyz").await;
    assert_eq!(status, 503, "{readiness}");
    assert!(
        readiness["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("appends failing (disk full)")),
        "{readiness}"
    );
    let (_, metrics, _) = get(&server, "/metrics").await;
    assert_eq!(metric(&metrics, "hotline_log_appends_failing "), 1.0, "{metrics}");

    std::fs::remove_file(filler).unwrap();
    let (outcome, _) = create_ticket(&server.base, &token).await;
    let id = outcome.expect("a ticket once space is freed");
    until_ready(&server, Duration::from_secs(20)).await;
    let (_, health, _) = get_json(&server, "/healthz").await;
    assert_eq!(health["appends"]["failing"], false, "{health}");
    let query = json!({ "query": "query($id: ID!) { ticket(id: $id) { id } }", "variables": { "id": id } });
    let shown: Value = client()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(&token)
        .json(&query)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["data"]["ticket"]["id"], id.as_str(), "{shown}");
}

/// Issue 13: on a full disk, opening the embedded log said SQLite's words three times. Now each
/// command that writes refuses once, in one line that says "no space", naming the device's
/// directory.
#[test]
fn a_full_disk_at_start_is_one_clear_line() {
    let disk = SmallDisk::mount(2);
    let data = disk.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    disk.fill();
    for args in [&["migrate"][..], &["demo", "--events", "10"], &["serve", "--listen", "127.0.0.1:0"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env_remove("HOTLINE_DATABASE_URL")
            .env("HOTLINE_LOG", "warn")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} cannot work on a full disk");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line, not SQLite's words thrice:\n{stderr}");
        assert!(lines[0].contains("no space left on the device of"), "{args:?}: {stderr}");
        assert!(lines[0].contains(&data.display().to_string()), "{args:?} names where: {stderr}");
    }
}
