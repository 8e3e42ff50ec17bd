//! Introspection (`__schema`, `__type`): the map of the whole API, for authenticated callers only,
//! or for no one with `hotline serve --introspection off`.

use crate::support::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SCHEMA: &str = "{ __schema { queryType { name } } }";

#[test]
fn introspection_without_a_token_answers_401_unauthenticated() {
    let asks = [
        SCHEMA,
        "{ __type(name: \"Ticket\") { fields { name } } }",
        "{ ... on Query { __schema { types { name } } } }",
        "query { ...Map } fragment Map on Query { t: __type(name: \"QueryRoot\") { name } }",
    ];
    for ask in asks {
        let answer = query(None, ask);
        assert_eq!(answer.status, 401, "{ask}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.code(), "UNAUTHENTICATED", "{ask}");
        assert!(answer.json()["data"].is_null(), "{ask}: nothing of the schema: {}", answer.json());
        let answer = query(Some("Bearer not.a.token"), ask);
        assert_eq!(answer.code(), "UNAUTHENTICATED", "{ask}, a forged token");
    }
}

#[test]
fn introspection_with_a_token_and_typename_without_one_are_answered() {
    let answer = query(Some(&bearer()), SCHEMA);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["data"]["__schema"]["queryType"]["name"], "QueryRoot");
    let answer = query(None, "{ __typename }");
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.json()["data"]["__typename"], "QueryRoot");
}

/// A `hotline serve` of its own, stopped when dropped.
struct OwnServer(Child);

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn introspection_switched_off_is_forbidden_even_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = hotline(dir.path(), &["token", "--user", "admin1", "--roles", "group_admin", "--org-path", "/hq"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let _server = OwnServer(
        Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", &address, "--introspection", "off"])
            .env_remove("HOTLINE_DATABASE_URL")
            .env("HOTLINE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve"),
    );
    let ask = |text: &str| {
        let body = serde_json::to_vec(&serde_json::json!({ "query": text })).unwrap();
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        send(&address, head, body)
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(&address).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let answer = ask(SCHEMA);
    assert_eq!(answer.code(), "FORBIDDEN", "{}", answer.json());
    assert!(answer.json()["data"].is_null());
    let answer = ask("{ me { user } }");
    assert_eq!(answer.json()["data"]["me"]["user"], "admin1", "the rest of the API is served");
}
