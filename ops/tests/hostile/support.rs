//! The shared servers of the hostile suite (embedded SQLite, and PostgreSQL for what only it
//! refuses), servers of a test's own for limits it sets low, and the raw HTTP a test sends.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The shared server: its address, data directory, and tokens of agents of tj01 and tj02.
pub(crate) struct Server {
    pub(crate) address: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) token: String,
    /// A token of an agent of tj02, another subsidiary.
    pub(crate) other_token: String,
    /// A token of a group admin.
    pub(crate) admin_token: String,
    /// A subsidiary admin of tj01.
    pub(crate) subsidiary_admin_token: String,
    /// The database of a PostgreSQL-backed server.
    pub(crate) postgres: Option<Postgres>,
    /// The server and its watchdog, when this test process started them.
    _processes: Option<(Child, Child)>,
}

/// The PostgreSQL database a server runs on.
pub(crate) struct Postgres {
    admin_url: String,
    pub(crate) url: String,
    database: String,
}

/// The shared server. `ops/test.sh` starts one for the whole suite (`HOTLINE_HOSTILE_SERVER`,
/// its address, and `HOTLINE_HOSTILE_DATA_DIR`) and runs `hotline verify` on its log once every
/// test has attacked it. Without them, one is started on first use: one per test process (all
/// tests under `cargo test`; each test under nextest, which runs tests in processes of their
/// own). Statics are never dropped, so a watchdog shell kills such a server and removes its data
/// directory once this test process has exited.
pub(crate) fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match (std::env::var("HOTLINE_HOSTILE_SERVER"), std::env::var("HOTLINE_HOSTILE_DATA_DIR")) {
        (Ok(address), Ok(data_dir)) => {
            let data_dir = PathBuf::from(data_dir);
            let server = with_tokens(address, data_dir, None, None);
            wait_until_up(&server);
            server
        }
        _ => start(&[]),
    })
}

/// A second shared server, on PostgreSQL (log and read models in a fresh database on the server
/// named by `HOTLINE_TEST_DATABASE_URL`, dropped by the watchdog): for what only PostgreSQL
/// refuses, such as a NUL in `text`.
pub(crate) fn postgres_server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (admin_url, url, database) = runtime.block_on(crate::db::fresh_postgres_database());
        start_on(Some(Postgres { admin_url, url, database }), &[])
    })
}

/// The server at `address` on `data_dir`, with tokens of its users.
fn with_tokens(
    address: String,
    data_dir: PathBuf,
    postgres: Option<Postgres>,
    processes: Option<(Child, Child)>,
) -> Server {
    let token = hotline(&data_dir, &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
    let other_token = hotline(&data_dir, &["token", "--user", "tj02-agent1", "--roles", "agent", "--tenant", "tj02"]);
    let admin_token = hotline(&data_dir, &["token", "--user", "admin1", "--roles", "group_admin"]);
    let subsidiary_admin_token =
        hotline(&data_dir, &["token", "--user", "tj01-admin", "--roles", "subsidiary_admin", "--tenant", "tj01"]);
    Server {
        address,
        data_dir,
        token,
        other_token,
        admin_token,
        subsidiary_admin_token,
        postgres,
        _processes: processes,
    }
}

/// Waits (up to 20 s) until the server answers `/healthz`.
fn wait_until_up(server: &Server) {
    for _ in 0..200 {
        if TcpStream::connect(&server.address).is_ok() && get(&server.address, "/healthz").0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(server.data_dir.join("serve.log")).unwrap_or_default();
    panic!("serve did not come up on {}: {log}", server.address);
}

/// Starts a server of its own, with these extra `serve` flags (a test of a limit sets it low),
/// on a data directory like the shared server's. It runs until this test process exits.
pub(crate) fn start(serve_flags: &[&str]) -> Server {
    start_on(None, serve_flags)
}

/// Starts a server on embedded SQLite, or on this PostgreSQL database.
fn start_on(postgres: Option<Postgres>, serve_flags: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let data_dir = dir.keep();
    let database_url = postgres.as_ref().map(|p| p.url.clone());
    let run = |args: &[&str]| hotline_on(&data_dir, database_url.as_deref(), args);
    // Creates the keys; then a small demo history, so that the organisation (tj01, tj02, …) exists.
    run(&["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
    run(&["demo", "--events", "50"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
    command
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["serve", "--listen", &address])
        .args(serve_flags)
        .env("HOTLINE_LOG", "warn");
    match &database_url {
        Some(url) => command.env("HOTLINE_DATABASE_URL", url),
        None => command.env_remove("HOTLINE_DATABASE_URL"),
    };
    let child = command
        // The server outlives this test process until the watchdog stops it: it must not hold
        // the test's output pipes (the runner would wait for them), so it logs to a file.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data_dir.join("serve.log")).expect("serve log file"))
        .spawn()
        .expect("start serve");
    // The database goes with the server (best effort: `psql` where it is installed).
    let drop_database = postgres
        .as_ref()
        .map(|p| {
            format!(
                "; psql '{}' -q -c 'DROP DATABASE IF EXISTS {} WITH (FORCE)' >/dev/null 2>&1",
                p.admin_url, p.database
            )
        })
        .unwrap_or_default();
    let watchdog = format!(
        "while kill -0 {test} 2>/dev/null; do sleep 1; done; kill {server} 2>/dev/null; sleep 2; rm -rf '{dir}'{drop_database}",
        test = std::process::id(),
        server = child.id(),
        dir = data_dir.display(),
    );
    let watchdog = Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the watchdog");
    let server = with_tokens(address, data_dir, postgres, Some((child, watchdog)));
    wait_until_up(&server);
    server
}

impl Server {
    /// A query with variables, posted as JSON to this server with `token`.
    pub(crate) fn graphql(&self, token: &str, query: &str, variables: Value) -> Answer {
        let body = serde_json::to_vec(&json!({ "query": query, "variables": variables })).unwrap();
        let authorization = format!("Bearer {token}");
        post_to(&self.address, &[JSON, ("Authorization", &authorization)], body)
    }

    /// `Bearer` and the tj01 agent's token.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// `POST /graphql` to this server with these extra header lines and this body.
    pub(crate) fn post(&self, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Answer {
        post_to(&self.address, headers, body.into())
    }

    /// A query as JSON, with this `Authorization` header, if any.
    pub(crate) fn query(&self, authorization: Option<&str>, query: &str) -> Answer {
        let body = serde_json::to_vec(&json!({ "query": query })).unwrap();
        match authorization {
            Some(authorization) => self.post(&[JSON, ("Authorization", authorization)], body),
            None => self.post(&[JSON], body),
        }
    }
}

/// Runs `hotline` on this data directory in embedded mode, expecting success.
pub(crate) fn hotline(dir: &Path, args: &[&str]) -> String {
    hotline_on(dir, None, args)
}

/// Runs `hotline` on this data directory, on PostgreSQL when a database URL is given.
fn hotline_on(dir: &Path, database_url: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
    command.arg("--data-dir").arg(dir).args(args).env("HOTLINE_LOG", "warn");
    match database_url {
        Some(url) => command.env("HOTLINE_DATABASE_URL", url),
        None => command.env_remove("HOTLINE_DATABASE_URL"),
    };
    let out = command.output().expect("run hotline");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An HTTP answer: status, headers (lowercase names) and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: String,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, failing the test with the body when it is not.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("status {}: not JSON: {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    /// The first error's `extensions.code`.
    pub(crate) fn code(&self) -> String {
        let body = self.json();
        body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}")).to_owned()
    }
}

/// Sends a request head and then `body`, writing the body on its own thread so that a server
/// that answers before reading it all is heard; reads the answer up to its `Content-Length`.
pub(crate) fn send(address: &str, head: String, body: Vec<u8>) -> Answer {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(head.as_bytes()).expect("send the head");
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // The server may refuse and close before the whole body is sent.
        let _ = writer.write_all(&body);
    });
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let answer = loop {
        if let Some(answer) = parse(&received) {
            break answer;
        }
        match stream.read(&mut buffer) {
            Ok(0) => {
                panic!("the server closed the connection without an answer: {:?}", String::from_utf8_lossy(&received))
            }
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) => panic!("no answer: {error}; received {:?}", String::from_utf8_lossy(&received)),
        }
    };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    answer
}

/// A complete answer in `received`, if there is one yet.
pub(crate) fn parse(received: &[u8]) -> Option<Answer> {
    let end = received.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    let status = headers.split(' ').nth(1)?.parse().ok()?;
    let length: usize = headers
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|value| value.trim().parse().expect("content-length"))
        .unwrap_or(0);
    let body = received.get(end + 4..end + 4 + length)?.to_vec();
    Some(Answer { status, headers, body })
}

pub(crate) fn get(address: &str, path: &str) -> (u16, Vec<u8>) {
    let answer = send(address, format!("GET {path} HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\n\r\n"), vec![]);
    (answer.status, answer.body)
}

/// `POST /graphql` to the shared server with these extra header lines and this body.
pub(crate) fn post(headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Answer {
    post_to(&server().address, headers, body.into())
}

/// `POST /graphql` with these extra header lines and this body, its length declared.
pub(crate) fn post_to(address: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut head =
        format!("POST /graphql HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    send(address, head, body)
}

pub(crate) const JSON: (&str, &str) = ("Content-Type", "application/json");

pub(crate) fn bearer() -> String {
    server().bearer()
}

/// A query as JSON to the shared server, with this `Authorization` header, if any.
pub(crate) fn query(authorization: Option<&str>, query: &str) -> Answer {
    server().query(authorization, query)
}

/// The server still answers a normal query: whatever the test sent did not stop it.
pub(crate) fn assert_still_serving() {
    let answer = query(Some(&bearer()), "{ me { user } }");
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["data"]["me"]["user"], "tj01-agent1");
}

/// `GET` with an `Authorization` header line, if any.
pub(crate) fn get_as(path: &str, authorization: Option<&str>) -> u16 {
    let header = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let head = format!("GET {path} HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\n{header}\r\n");
    send(&server().address, head, vec![]).status
}
