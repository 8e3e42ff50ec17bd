//! The JetStream publisher against a real nats-server: killed mid-stream, commands still
//! commit; back up, the publisher catches up with no gap, and a consumer that deduplicates by
//! `Nats-Msg-Id` sees every event once, in log order.

#[path = "../../commands/tests/support/mod.rs"]
mod support;

use chrono::{TimeZone, Utc};
use hotline_commands::clock::ManualClock;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{AppendRequest, EventStore, ExpectedVersion, Metadata, NewEvent, StreamId};
use hotline_projections::bus::{NatsPublisher, STREAM};
use hotline_projections::store::ReadStore;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct NatsServer(Child);

impl NatsServer {
    fn start(port: u16, store_dir: &Path) -> NatsServer {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server ({e}): run ops/test.sh, or install it with `apt-get install -y nats-server`")
            });
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "nats-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        NatsServer(child)
    }

    fn kill(mut self) {
        self.0.kill().expect("kill nats-server");
        self.0.wait().expect("reap nats-server");
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn append(log: &dyn EventStore, n: usize, offset: usize) {
    for i in offset..offset + n {
        let tenant = if i % 3 == 0 { None } else { Some(format!("tj0{}", i % 3)) };
        let event = NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: "TicketUrged".into(),
            schema_version: 1,
            payload: serde_json::json!({ "n": i }),
            metadata: Metadata {
                tenant,
                actor: "agent1".into(),
                command_id: None,
                correlation_id: uuid::Uuid::now_v7(),
                causation_id: None,
                source: "test".into(),
                occurred_at: Utc::now(),
            },
        };
        let request = AppendRequest {
            stream_id: StreamId::new("ticket", i),
            expected: ExpectedVersion::NoStream,
            events: vec![event],
            command_id: None,
            fingerprint: None,
        };
        log.append(request).await.expect("commands commit whether NATS is up or not");
    }
}

/// (message id, position, subject) of every message in the stream, in stream order.
async fn messages(url: &str) -> Vec<(String, u64, String)> {
    let client = async_nats::connect(url).await.expect("connect to NATS");
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(STREAM).await.expect("stream exists");
    let last = stream.info().await.expect("stream info").state.last_sequence;
    let mut out = Vec::new();
    for sequence in 1..=last {
        let Ok(message) = stream.get_raw_message(sequence).await else { continue };
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned()).unwrap_or_default();
        out.push((header("Nats-Msg-Id"), header("Hotline-Position").parse().unwrap_or(0), message.subject.to_string()));
    }
    out
}

async fn wait_for_unique(url: &str, count: usize) -> Vec<(String, u64, String)> {
    let started = Instant::now();
    loop {
        let all = messages(url).await;
        let unique: HashSet<&String> = all.iter().map(|m| &m.0).collect();
        if unique.len() >= count {
            return all;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "only {} of {count} events reached NATS", unique.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_survives_nats_going_down_without_gap_or_visible_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let nats_dir = dir.path().join("nats");
    let server = NatsServer::start(port, &nats_dir);
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()));
    let log: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), clock).await.unwrap());
    let read = ReadStore::open_sqlite(&dir.path().join("readmodels.db")).await.unwrap();
    let publisher = NatsPublisher::connect(&url, Arc::clone(&log), read).await.expect("publisher");
    let running = tokio::spawn(publisher.run());

    append(log.as_ref(), 30, 0).await;
    wait_for_unique(&url, 30).await;
    server.kill();
    // NATS is down: the log keeps taking commands.
    append(log.as_ref(), 30, 30).await;
    assert_eq!(log.head().await.unwrap(), 60);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _server = NatsServer::start(port, &nats_dir);
    let all = wait_for_unique(&url, 60).await;

    let mut seen = HashSet::new();
    let mut positions = Vec::new();
    for (id, position, subject) in &all {
        if seen.insert(id.clone()) {
            positions.push(*position);
            let tenant =
                if (position - 1) % 3 == 0 { "group".to_owned() } else { format!("tj0{}", (position - 1) % 3) };
            assert_eq!(subject, &format!("hotline.ev.{tenant}.ticket.TicketUrged"));
        }
    }
    assert_eq!(positions, (1..=60).collect::<Vec<u64>>(), "every event once, in log order, after dedup by id");
    let events = log.read_all(0, 100).await.unwrap();
    let ids: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let published: Vec<String> = {
        let mut seen = HashSet::new();
        all.iter().filter(|m| seen.insert(m.0.clone())).map(|m| m.0.clone()).collect()
    };
    assert_eq!(published, ids, "Nats-Msg-Id is the event id");
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_committed_on_one_node_reaches_subscribers_on_another() {
    use hotline_commands::store::postgres::PostgresEventStore;
    use hotline_projections::bus::ChangeNotices;
    use hotline_projections::runner::Runner;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let _server = NatsServer::start(port, &dir.path().join("nats"));
    let (admin_url, db_url, database) = support::fresh_postgres_database().await;
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()));
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let log: Arc<dyn EventStore> = Arc::new(PostgresEventStore::connect(&db_url, clock.clone()).await.unwrap());
        let read = ReadStore::open_postgres(&db_url).await.unwrap();
        let runner = Arc::new(Runner::new(Arc::clone(&log), read, hotline_projections::all_projections()));
        let tasks =
            ChangeNotices::connect(&url).await.unwrap().spawn(Arc::clone(&runner), Arc::clone(&log)).await.unwrap();
        nodes.push((log, runner, tasks));
    }
    let mut feed_b = nodes[1].1.subscribe();
    // Give both subscriptions a moment to be registered with the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let event = NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: "TicketUrged".into(),
        schema_version: 1,
        payload: serde_json::json!({ "by": "agent1", "note": "催", "count": 1 }),
        metadata: Metadata {
            tenant: Some("tj01".into()),
            actor: "agent1".into(),
            command_id: None,
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
            source: "test".into(),
            occurred_at: Utc::now(),
        },
    };
    let event_id = event.event_id;
    let request = AppendRequest {
        stream_id: StreamId::new("ticket", "n1"),
        expected: ExpectedVersion::NoStream,
        events: vec![event],
        command_id: None,
        fingerprint: None,
    };
    nodes[0].0.append(request).await.unwrap();
    nodes[0].1.catch_up_all().await.unwrap();
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let batch = feed_b.recv().await.expect("feed open");
            if batch.remote && batch.projection == "tickets" {
                return batch;
            }
        }
    })
    .await
    .expect("node B hears of node A's commit");
    assert_eq!(received.events.iter().map(|e| e.event_id).collect::<Vec<_>>(), vec![event_id]);
    for (_, _, tasks) in nodes {
        for task in tasks {
            task.abort();
        }
    }
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await.unwrap();
    let _ =
        sqlx::Executor::execute(&mut admin, format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str()).await;
}

/// Issue 13: JetStream drops a re-sent message only within its duplicate window (2 minutes by
/// default). A publisher killed mid-batch (here: its task aborted after some acknowledgements,
/// before the batch's checkpoint was written) and restarted after the window re-sent up to a
/// batch, which the stream then kept twice. It now goes on after the last message the stream
/// acknowledged. The test gives the stream a 2 s window of its own instead of waiting 2 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_killed_mid_batch_and_restarted_after_the_duplicate_window_republishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let _server = NatsServer::start(port, &dir.path().join("nats"));
    let window = Duration::from_secs(2);
    let jetstream = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: STREAM.to_owned(),
            subjects: vec!["hotline.ev.>".to_owned()],
            duplicate_window: window,
            ..Default::default()
        })
        .await
        .expect("the stream, with a short duplicate window");
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()));
    let log: Arc<dyn EventStore> = Arc::new(SqliteEventStore::open(&dir.path().join("log.db"), clock).await.unwrap());
    let read = ReadStore::open_sqlite(&dir.path().join("readmodels.db")).await.unwrap();
    let total = 1500;
    append(log.as_ref(), total, 0).await;

    let publisher = NatsPublisher::connect(&url, Arc::clone(&log), read.clone()).await.unwrap();
    let running = tokio::spawn(publisher.run());
    let mut stream = jetstream.get_stream(STREAM).await.unwrap();
    let started = Instant::now();
    loop {
        let published = stream.info().await.unwrap().state.messages;
        if published >= 100 && published % 500 != 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the publisher did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.abort();
    let _ = running.await;
    let acknowledged = stream.info().await.unwrap().state.messages;
    let probe = NatsPublisher::connect(&url, Arc::clone(&log), read.clone()).await.unwrap();
    let checkpoint = probe.position().await.unwrap();
    assert!(checkpoint < acknowledged, "killed mid-batch: {acknowledged} acknowledged, checkpoint at {checkpoint}");
    assert!(acknowledged < total as u64, "killed before the end");

    // Down for longer than the duplicate window.
    tokio::time::sleep(window + Duration::from_millis(1500)).await;
    let restarted = tokio::spawn(NatsPublisher::connect(&url, Arc::clone(&log), read).await.unwrap().run());
    let all = wait_for_unique(&url, total).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    restarted.abort();
    let stored = stream.info().await.unwrap().state.messages;
    assert_eq!(all.len(), total, "every event once");
    assert_eq!(stored, total as u64, "nothing acknowledged was published again");
    let positions: Vec<u64> = messages(&url).await.iter().map(|m| m.1).collect();
    assert_eq!(positions, (1..=total as u64).collect::<Vec<_>>(), "in log order, no gap");
}
