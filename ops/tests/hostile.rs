//! Issue 12: what a hostile or careless caller sends to a real `hotline serve`, and the cheap,
//! typed refusal it gets. One server (embedded SQLite in a temporary data directory) is shared by
//! every test here, so a request that stops it fails every test after it; each test is named by
//! what the attacker sends.
//!
//! Requests are raw HTTP/1.1 over [`TcpStream`], so a test can send exactly the bytes an attacker
//! would: broken UTF-8, a lying `Content-Length`, a body the server refuses before reading it.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The shared server: its address, data directory, and tokens of agents of tj01 and tj02.
struct Server {
    address: String,
    data_dir: PathBuf,
    token: String,
    /// A token of an agent of tj02, another subsidiary.
    other_token: String,
    /// A token of a group admin.
    admin_token: String,
    /// A subsidiary admin of tj01.
    subsidiary_admin_token: String,
    _child: Child,
    _watchdog: Child,
}

/// Starts the shared server on first use: one per test process (all tests under `cargo test`;
/// each test under nextest, which runs tests in processes of their own). Statics are never
/// dropped, so a watchdog shell kills the server and removes its data directory once this test
/// process has exited.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let data_dir = dir.keep();
        let token = hotline(&data_dir, &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
        // A small demo history, so that the organisation (tj01, tj02, …) exists.
        hotline(&data_dir, &["demo", "--events", "50"]);
        let other_token =
            hotline(&data_dir, &["token", "--user", "tj02-agent1", "--roles", "agent", "--tenant", "tj02"]);
        let admin_token = hotline(&data_dir, &["token", "--user", "admin1", "--roles", "group_admin"]);
        let subsidiary_admin_token =
            hotline(&data_dir, &["token", "--user", "tj01-admin", "--roles", "subsidiary_admin", "--tenant", "tj01"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["serve", "--listen", &address])
            .env_remove("HOTLINE_DATABASE_URL")
            .env("HOTLINE_LOG", "warn")
            // The server outlives this test process until the watchdog stops it: it must not hold
            // the test's output pipes (the runner would wait for them), so it logs to a file.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data_dir.join("serve.log")).expect("serve log file"))
            .spawn()
            .expect("start serve");
        let watchdog = format!(
            "while kill -0 {test} 2>/dev/null; do sleep 1; done; kill {server} 2>/dev/null; sleep 2; rm -rf '{dir}'",
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
        let server = Server {
            address,
            data_dir,
            token,
            other_token,
            admin_token,
            subsidiary_admin_token,
            _child: child,
            _watchdog: watchdog,
        };
        for _ in 0..200 {
            if TcpStream::connect(&server.address).is_ok() && get(&server.address, "/healthz").0 == 200 {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(server.data_dir.join("serve.log")).unwrap_or_default();
        panic!("serve did not come up on {}: {log}", server.address);
    })
}

/// Runs `hotline` on this data directory in embedded mode, expecting success.
fn hotline(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_LOG", "warn")
        .output()
        .expect("run hotline");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An HTTP answer: status, headers (lowercase names) and body.
struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, failing the test with the body when it is not.
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("status {}: not JSON: {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    /// The first error's `extensions.code`.
    fn code(&self) -> String {
        let body = self.json();
        body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}")).to_owned()
    }
}

/// Sends a request head and then `body`, writing the body on its own thread so that a server
/// that answers before reading it all is heard; reads the answer up to its `Content-Length`.
fn send(address: &str, head: String, body: Vec<u8>) -> Answer {
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
fn parse(received: &[u8]) -> Option<Answer> {
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

fn get(address: &str, path: &str) -> (u16, Vec<u8>) {
    let answer = send(address, format!("GET {path} HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\n\r\n"), vec![]);
    (answer.status, answer.body)
}

/// `POST /graphql` with these extra header lines and this body, its length declared.
fn post(headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Answer {
    let body = body.into();
    let mut head =
        format!("POST /graphql HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    send(&server().address, head, body)
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn bearer() -> String {
    format!("Bearer {}", server().token)
}

/// A query as JSON, posted with the shared agent's token.
fn query(authorization: Option<&str>, query: &str) -> Answer {
    let body = serde_json::to_vec(&json!({ "query": query })).unwrap();
    match authorization {
        Some(authorization) => post(&[JSON, ("Authorization", authorization)], body),
        None => post(&[JSON], body),
    }
}

/// The server still answers a normal query: whatever the test sent did not stop it.
fn assert_still_serving() {
    let answer = query(Some(&bearer()), "{ me { user } }");
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["data"]["me"]["user"], "tj01-agent1");
}

#[test]
fn a_list_argument_nested_2048_deep_is_refused_and_the_server_stays_up() {
    let bomb = format!("{{ __typename(a: {}1{}) }}", "[".repeat(2048), "]".repeat(2048));
    let answer = query(None, &bomb);
    assert_eq!(answer.code(), "INVALID_INPUT");
    let answer = query(Some(&bearer()), &bomb);
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn a_list_argument_nested_to_the_limit_is_parsed_without_harm() {
    // 62 brackets, inside `{` and `(`: 64 in all, the deepest the limit lets through.
    let deep = format!("{{ __typename(a: {}1{}) }}", "[".repeat(62), "]".repeat(62));
    let answer = query(Some(&bearer()), &deep);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert!(!answer.json().to_string().contains("nests deeper"), "{}", answer.json());
    let deeper = format!("{{ __typename(a: {}1{}) }}", "[".repeat(63), "]".repeat(63));
    assert_eq!(query(Some(&bearer()), &deeper).code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn an_input_object_nested_2048_deep_in_the_document_is_refused() {
    let bomb = format!("{{ __typename(a: {}1{}) }}", "{a: ".repeat(2048), "}".repeat(2048));
    assert_eq!(query(None, &bomb).code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn variables_nested_2048_deep_are_refused() {
    let body =
        format!(r#"{{"query": "{{ __typename }}", "variables": {{"a": {}1{}}}}}"#, "[".repeat(2048), "]".repeat(2048));
    assert_eq!(post(&[JSON], body).code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn brackets_inside_string_literals_do_not_count_as_nesting() {
    let deep_text = format!("{{ __typename(a: \"{}\") }}", "[".repeat(2048));
    let answer = query(Some(&bearer()), &deep_text);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert!(!answer.json().to_string().contains("nests deeper"), "{}", answer.json());
}

#[test]
fn a_10_mb_body_with_a_token_is_refused_with_413() {
    let body = format!(r#"{{"query": "{{ __typename }}", "variables": {{"a": "{}"}}}}"#, "x".repeat(10 * 1024 * 1024));
    let answer = post(&[JSON, ("Authorization", &bearer())], body);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn a_10_mb_chunked_body_with_a_token_is_refused_with_413() {
    let mut chunked = Vec::new();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..160 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        bearer()
    );
    let answer = send(&server().address, head, chunked);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert_still_serving();
}

#[test]
fn a_large_body_without_a_token_is_refused_with_401_before_it_is_read() {
    let body = format!(r#"{{"query": "{{ __typename }}", "variables": {{"a": "{}"}}}}"#, "x".repeat(100 * 1024));
    let answer = post(&[JSON], body);
    assert_eq!(answer.status, 401);
    assert_eq!(answer.code(), "UNAUTHENTICATED");
    assert_still_serving();
}

#[test]
fn malformed_json_is_refused_as_json() {
    let answer = post(&[JSON], r#"{"query": "{ __typename }""#);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "INVALID_INPUT");
}

#[test]
fn an_empty_body_is_refused_as_json() {
    let answer = post(&[JSON], "");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "INVALID_INPUT");
}

#[test]
fn a_form_body_is_refused_as_json() {
    let answer = post(&[("Content-Type", "application/x-www-form-urlencoded")], "query=%7B__typename%7D");
    assert_eq!(answer.status, 415);
    assert!(answer.headers.contains("content-type: application/json"), "{}", answer.headers);
    assert_eq!(answer.code(), "INVALID_INPUT");
}

#[test]
fn broken_utf8_is_refused_as_json() {
    let mut body = br#"{"query": "{ __typename(a: \""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    body.extend_from_slice(br#"\") }"}"#);
    let answer = post(&[JSON], body);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "INVALID_INPUT");
}

#[test]
fn no_token_answers_401_unauthenticated() {
    let answer = query(None, "{ me { user } }");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.code(), "UNAUTHENTICATED");
}

#[test]
fn a_forged_token_answers_401_unauthenticated() {
    let answer = query(Some("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"), "{ me { user } }");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.code(), "UNAUTHENTICATED");
}

#[test]
fn the_bearer_scheme_in_any_case_is_accepted() {
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let answer = query(Some(&format!("{scheme} {}", server().token)), "{ me { user } }");
        assert_eq!(answer.status, 200, "{scheme}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.json()["data"]["me"]["user"], "tj01-agent1", "{scheme}");
    }
}

#[test]
fn the_servers_key_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data_dir = &server().data_dir;
    for key in ["jwt-hs256.key", "seal-ed25519.key"] {
        let mode = std::fs::metadata(data_dir.join(key)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{key}: {mode:o}");
    }
}

#[test]
fn serve_refuses_a_key_file_others_may_read() {
    use std::os::unix::fs::PermissionsExt;
    for key in ["jwt-hs256.key", "seal-ed25519.key"] {
        let dir = tempfile::tempdir().unwrap();
        // Creates the token key; a seal key is written as an operator might, readable by all.
        hotline(dir.path(), &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
        let seal = dir.path().join("seal-ed25519.key");
        std::fs::write(&seal, "11".repeat(32)).unwrap();
        std::fs::set_permissions(&seal, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.path().join(key);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("HOTLINE_DATABASE_URL")
            .env("HOTLINE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        // It must exit by itself; a server that came up is killed and the test fails.
        let mut exited = None;
        for _ in 0..300 {
            if let Some(status) = child.try_wait().unwrap() {
                exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let Some(status) = exited else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started on a world-readable {key}");
        };
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(!status.success(), "{key}: {stderr}");
        assert!(stderr.contains(&format!("chmod 600 {}", path.display())), "{key}: {stderr}");
    }
}

#[test]
fn another_subsidiarys_ticket_answers_like_an_unknown_one() {
    let other = format!("Bearer {}", server().other_token);
    let create =
        "mutation { createTicket(input: {type: \"repair\", urgency: \"normal\", callerPhone: \"13812345678\", \
                  address: \"幸福里3号楼\", description: \"暖气不热\"}) { ticket { id number } } }";
    let created = query(Some(&other), create).json();
    let ticket = &created["data"]["createTicket"]["ticket"];
    let (id, number) =
        (ticket["id"].as_str().unwrap_or_else(|| panic!("{created}")), ticket["number"].as_str().unwrap());
    let unknown_id = "01900000-0000-7000-8000-000000000000";
    let ask = |q: String| {
        let answer = query(Some(&bearer()), &q);
        let json = answer.json();
        (answer.code(), json["errors"][0]["message"].as_str().unwrap_or_default().to_owned())
    };
    let by_id = ask(format!("{{ ticket(id: \"{id}\") {{ number }} }}"));
    let unknown = ask(format!("{{ ticket(id: \"{unknown_id}\") {{ number }} }}"));
    assert_eq!(by_id.0, "NOT_FOUND");
    assert_eq!(by_id.0, unknown.0);
    assert_eq!(by_id.1.replace(id, "X"), unknown.1.replace(unknown_id, "X"), "the same words");
    let by_number = ask(format!("{{ ticket(number: \"{number}\") {{ id }} }}"));
    let unknown_number = ask("{ ticket(number: \"NO-SUCH-1\") { id } }".into());
    assert_eq!(by_number.0, "NOT_FOUND");
    assert_eq!(by_number.0, unknown_number.0);
    assert!(!by_number.1.contains(id), "the number does not give away the id: {}", by_number.1);
    let close = |ticket: &str| ask(format!("mutation {{ closeTicket(ticketId: \"{ticket}\") {{ position }} }}"));
    assert_eq!(close(id).0, "NOT_FOUND");
    assert_eq!(close(unknown_id).0, "NOT_FOUND");
}

/// `GET` with an `Authorization` header line, if any.
fn get_as(path: &str, authorization: Option<&str>) -> u16 {
    let header = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let head = format!("GET {path} HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\n{header}\r\n");
    send(&server().address, head, vec![]).status
}

#[test]
fn rejected_datagrams_are_for_group_admins_only_and_health_stays_open() {
    assert_eq!(get_as("/telephony/rejected", None), 401, "no token");
    assert_eq!(get_as("/telephony/rejected", Some("Bearer not.a.token")), 401, "a forged token");
    assert_eq!(get_as("/telephony/rejected", Some(&bearer())), 403, "an agent");
    // Unreadable datagrams name no tenant: a subsidiary admin would see other subsidiaries' callers.
    let subsidiary_admin = format!("Bearer {}", server().subsidiary_admin_token);
    assert_eq!(get_as("/telephony/rejected", Some(&subsidiary_admin)), 403, "a subsidiary admin");
    // Past the gate: this server runs no SIP adapter, so there is nothing to show.
    let admin = format!("Bearer {}", server().admin_token);
    assert_eq!(get_as("/telephony/rejected", Some(&admin)), 404, "a group admin");
    assert_eq!(get_as("/healthz", None), 200);
    assert_eq!(get_as("/metrics", None), 200);
}
