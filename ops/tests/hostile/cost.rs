//! What a document may cost, how long a request may take to arrive and to run, and how often a
//! caller may ask.

use crate::support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Fragments that each spread the next twice, every one repeating `__typename`: 2^levels fields
/// (async-graphql refuses more than 32 levels of recursion by itself, so 30 is what gets through).
fn doubling_fragments(levels: usize) -> String {
    let mut document = String::from("{ ...F0 }");
    for level in 0..levels {
        document.push_str(&format!(" fragment F{level} on QueryRoot {{ __typename ...F{n} ...F{n} }}", n = level + 1));
    }
    document.push_str(&format!(" fragment F{levels} on QueryRoot {{ __typename }}"));
    document
}

#[test]
fn fragments_that_double_at_each_level_are_refused_before_they_are_expanded() {
    let bomb = doubling_fragments(30);
    assert!(bomb.len() < 4096, "a small request: {} bytes", bomb.len());
    for authorization in [None, Some(bearer())] {
        let answer = query(authorization.as_deref(), &bomb);
        assert_eq!(answer.code(), "INVALID_INPUT", "{}", answer.json());
        assert!(answer.json().to_string().contains("fields"), "{}", answer.json());
    }
    assert_still_serving();
}

#[test]
fn typename_counts_as_a_field() {
    let many = format!("{{ {} }}", "__typename ".repeat(2_001));
    assert_eq!(query(Some(&bearer()), &many).code(), "INVALID_INPUT");
    let enough = format!("{{ {} }}", "__typename ".repeat(100));
    let answer = query(Some(&bearer()), &enough);
    assert_eq!(answer.status, 200, "{}", answer.json());
    assert_eq!(answer.json()["data"]["__typename"], "QueryRoot");
}

#[test]
fn five_hundred_aliases_are_refused() {
    let aliases: String = (0..500).map(|i| format!(" a{i}: __typename")).collect();
    let answer = query(Some(&bearer()), &format!("{{{aliases} }}"));
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert!(answer.json().to_string().contains("aliases"), "{}", answer.json());
}

#[test]
fn a_document_over_64_kib_is_refused() {
    let padding = "#".repeat(70 * 1024);
    let answer = query(Some(&bearer()), &format!("{padding}\n{{ __typename }}"));
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert!(answer.json().to_string().contains("bytes"), "{}", answer.json());
}

#[test]
fn a_document_of_more_than_10000_tokens_is_refused() {
    let list = vec!["1"; 10_001].join(",");
    let answer = query(Some(&bearer()), &format!("{{ __typename(a: [{list}]) }}"));
    assert_eq!(answer.code(), "INVALID_INPUT");
    assert!(answer.json().to_string().contains("tokens"), "{}", answer.json());
}

#[test]
fn a_far_future_position_is_refused_at_once_and_never_waited_for_without_a_token() {
    let ahead = "{ tickets(first: 1, afterPosition: 999999999) { edges { node { id } } } }";
    // Before: both waited 5 s for read models that would never get there, then said UNAVAILABLE.
    let anonymous = query(None, ahead);
    assert_eq!(anonymous.status, 401, "{}", anonymous.json());
    assert_eq!(anonymous.code(), "UNAUTHENTICATED");
    let answer = query(Some(&bearer()), ahead);
    assert_eq!(answer.code(), "INVALID_INPUT", "{}", answer.json());
    assert!(answer.json().to_string().contains("beyond the log's head"), "{}", answer.json());
}

#[test]
fn a_request_past_its_time_limit_is_cancelled_with_timeout() {
    let server = start(&["--request-timeout-ms", "500"]);
    let create = "mutation { createTicket(clientCommandId: \"0193a5b0-0000-7000-8000-00000000c0de\", input: \
                  {type: \"repair\", urgency: \"normal\", callerPhone: \"13812345678\", address: \"幸福里3号楼\", \
                  description: \"暖气不热\"}) { ticket { number } duplicate } }";
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let database = format!("sqlite://{}", server.data_dir.join("hotline.db").display());
    // Another process holds the log's write lock, as a stalled disk or a long backup would: the
    // append waits for it (up to SQLite's 30 s busy timeout), the request does not.
    let mut holder = runtime.block_on(async {
        use sqlx::{Connection, Executor};
        let mut connection = sqlx::SqliteConnection::connect(&database).await.unwrap();
        connection.execute("BEGIN IMMEDIATE").await.unwrap();
        connection
    });
    let answer = server.query(Some(&server.bearer()), create);
    assert_eq!(answer.code(), "TIMEOUT", "{}", answer.json());
    assert!(answer.json()["data"].is_null(), "{}", answer.json());
    runtime.block_on(async {
        use sqlx::Executor;
        holder.execute("ROLLBACK").await.unwrap();
    });
    // The retry with the same command id makes the ticket once.
    let retried = server.query(Some(&server.bearer()), create).json();
    assert!(retried["data"]["createTicket"]["ticket"]["number"].is_string(), "{retried}");
}

/// Reads until the server closes the connection; the bytes it sent, or `None` if it did not
/// close within `limit`.
fn until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => Some(received),
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => Some(received),
        Err(_) => None,
    }
}

#[test]
fn a_half_sent_request_head_is_cut_off() {
    let server = start(&["--read-timeout-ms", "500"]);
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream.write_all(b"POST /graphql HTTP/1.1\r\nHost: hotline\r\nContent-Len").unwrap();
    let started = Instant::now();
    // Before: the connection stayed open for as long as the caller liked.
    assert!(until_closed(&mut stream, Duration::from_secs(20)).is_some(), "still open after 20 s");
    assert!(started.elapsed() < Duration::from_secs(20));
    let answer = server.query(Some(&server.bearer()), "{ me { user } }");
    assert_eq!(answer.json()["data"]["me"]["user"], "tj01-agent1");
}

#[test]
fn a_body_that_stops_arriving_is_answered_408() {
    let server = start(&["--read-timeout-ms", "500"]);
    let mut stream = TcpStream::connect(&server.address).unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: {}\r\nContent-Length: 100\r\n\r\n{{\"query\":",
        server.bearer()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let received = until_closed(&mut stream, Duration::from_secs(20)).expect("an answer within 20 s");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"TIMEOUT\""), "{text}");
}

#[test]
fn a_user_over_their_rate_is_answered_429_and_others_are_not() {
    let server = start(&["--rate-per-user", "1", "--rate-burst", "2", "--rate-per-address", "0"]);
    let codes: Vec<u16> = (0..8).map(|_| server.query(Some(&server.bearer()), "{ me { user } }").status).collect();
    assert_eq!(&codes[..2], [200, 200], "the burst passes: {codes:?}");
    assert!(codes.contains(&429), "{codes:?}");
    let refused = server.query(Some(&server.bearer()), "{ me { user } }");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.code(), "RATE_LIMITED");
    assert!(refused.headers.contains("retry-after: 1"), "{}", refused.headers);
    // Another user, and the health check, are not held back by this one.
    let other = server.query(Some(&format!("Bearer {}", server.other_token)), "{ me { user } }");
    assert_eq!(other.status, 200, "{}", String::from_utf8_lossy(&other.body));
    assert_eq!(get(&server.address, "/healthz").0, 200);
}

#[test]
fn an_address_over_its_rate_is_answered_429_with_or_without_a_token() {
    let server = start(&["--rate-per-address", "1", "--rate-burst", "2", "--rate-per-user", "0"]);
    let codes: Vec<u16> = (0..8).map(|_| server.query(None, "{ __typename }").status).collect();
    assert!(codes.contains(&429), "{codes:?}");
    let refused = server.query(Some(&server.bearer()), "{ me { user } }");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.code(), "RATE_LIMITED");
    assert_eq!(get(&server.address, "/metrics").0, 200);
}
