//! `/graphql/ws`: what a socket without a valid token, with a token that expires, or with too
//! many subscriptions gets, and a board shared by its subscribers.

use crate::support::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the server sent next: a message, or the close frame's code.
#[derive(Debug)]
enum Frame {
    Json(Value),
    Closed(Option<u16>),
}

async fn connect(protocol: &str) -> Socket {
    let mut request = format!("ws://{}/graphql/ws", server().address).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("websocket").0
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.expect("send");
}

/// The next message or close, within `wait`; `None` when nothing came.
async fn next_within(socket: &mut Socket, wait: Duration) -> Option<Frame> {
    loop {
        let message = match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return None,
            Ok(None) | Ok(Some(Err(_))) => return Some(Frame::Closed(None)),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => return Some(Frame::Json(serde_json::from_str(&text).expect("JSON"))),
            Message::Close(frame) => return Some(Frame::Closed(frame.map(|f| u16::from(f.code)))),
            _ => continue,
        }
    }
}

async fn next(socket: &mut Socket) -> Frame {
    next_within(socket, Duration::from_secs(20)).await.expect("an answer within 20 s")
}

/// The next message about operation `id`, skipping others (other tests change tickets too).
async fn next_for(socket: &mut Socket, id: &str) -> Frame {
    loop {
        match next(socket).await {
            Frame::Json(message) if message["id"] != id => continue,
            frame => return frame,
        }
    }
}

/// A socket on graphql-transport-ws whose `connection_init` with `token` was acknowledged.
async fn open(token: &str) -> Socket {
    let mut socket = connect("graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    match next(&mut socket).await {
        Frame::Json(message) if message["type"] == "connection_ack" => socket,
        other => panic!("no acknowledgement: {other:?}"),
    }
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    send(socket, json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await;
}

/// The first error's `extensions.code` of a `next` message.
fn code(frame: &Frame) -> String {
    match frame {
        Frame::Json(message) => message["payload"]["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {message}"))
            .to_owned(),
        Frame::Closed(code) => panic!("closed ({code:?}) instead of an error"),
    }
}

/// A token of an agent of tj01 that no other test uses, so that caps counted per user see only
/// this test's subscriptions.
fn agent_token(user: &str, extra: &[&str]) -> String {
    let mut args =
        vec!["token", "--user", user, "--roles", "agent", "--tenant", "tj01", "--org-path", "/hq/north/tj01"];
    args.extend_from_slice(extra);
    hotline(&server().data_dir, &args)
}

/// A token signed with the server's key whose `exp` lies an hour in the past.
fn expired_token() -> String {
    let secret = std::fs::read_to_string(server().data_dir.join("jwt-hs256.key")).unwrap();
    let keys = hotline_graphql::auth::Keys::hs256(secret.trim().as_bytes());
    let claims = hotline_graphql::auth::Claims {
        sub: "tj01-agent1".into(),
        tenant: Some("tj01".into()),
        org_path: "/hq/north/tj01".into(),
        roles: vec!["agent".into()],
        exp: chrono::Utc::now().timestamp() - 3600,
    };
    keys.mint(&claims).expect("HS256 mints")
}

const TICKET_CHANGED: &str = "subscription { ticketChanged { id } }";

fn create_ticket() {
    let create =
        "mutation { createTicket(input: {type: \"repair\", urgency: \"normal\", callerPhone: \"13812345678\", \
                  address: \"幸福里3号楼\", description: \"暖气不热\"}) { ticket { id } } }";
    let answer = query(Some(&bearer()), create);
    assert!(answer.json()["data"]["createTicket"]["ticket"]["id"].is_string(), "{}", answer.json());
}

#[tokio::test]
async fn connection_init_without_a_valid_token_is_closed_with_4403() {
    let cases = [
        ("no payload", json!({ "type": "connection_init" })),
        ("no token", json!({ "type": "connection_init", "payload": {} })),
        ("a forged token", json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not.a.token" } })),
        (
            "an expired token",
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", expired_token()) } }),
        ),
    ];
    for (case, init) in cases {
        let mut socket = connect("graphql-transport-ws").await;
        send(&mut socket, init.clone()).await;
        match next(&mut socket).await {
            Frame::Closed(Some(4403)) => {}
            other => panic!("graphql-transport-ws, {case}: {other:?}"),
        }
        // The older graphql-ws names no close codes: first a connection_error with the code.
        let mut socket = connect("graphql-ws").await;
        send(&mut socket, init).await;
        match next(&mut socket).await {
            Frame::Json(message) if message["type"] == "connection_error" => {
                assert_eq!(
                    message["payload"]["extensions"]["code"], "UNAUTHENTICATED",
                    "graphql-ws, {case}: {message}"
                );
            }
            other => panic!("graphql-ws, {case}: {other:?}"),
        }
        match next(&mut socket).await {
            Frame::Closed(Some(4403)) => {}
            other => panic!("graphql-ws, {case}, after connection_error: {other:?}"),
        }
    }
    assert_still_serving();
}

#[tokio::test]
async fn subscribe_before_connection_init_is_closed_with_4401() {
    let mut socket = connect("graphql-transport-ws").await;
    subscribe(&mut socket, "1", TICKET_CHANGED).await;
    match next(&mut socket).await {
        Frame::Closed(Some(4401)) => {}
        other => panic!("graphql-transport-ws: {other:?}"),
    }
    let mut socket = connect("graphql-ws").await;
    send(&mut socket, json!({ "id": "1", "type": "start", "payload": { "query": TICKET_CHANGED } })).await;
    match next(&mut socket).await {
        Frame::Json(message) if message["type"] == "connection_error" => {
            assert_eq!(message["payload"]["extensions"]["code"], "UNAUTHENTICATED", "{message}");
        }
        other => panic!("graphql-ws: {other:?}"),
    }
    match next(&mut socket).await {
        Frame::Closed(Some(4401)) => {}
        other => panic!("graphql-ws, after connection_error: {other:?}"),
    }
}

#[tokio::test]
async fn a_socket_that_never_sends_connection_init_is_closed_with_4408() {
    let mut socket = connect("graphql-transport-ws").await;
    let started = Instant::now();
    match next_within(&mut socket, Duration::from_secs(30)).await {
        Some(Frame::Closed(Some(4408))) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_secs(5), "closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_subscription_ends_with_unauthenticated_when_its_token_expires() {
    // `hotline token --expires-in`: a token that lives a few seconds.
    let token = agent_token("ws-expiring-agent", &["--expires-in", "6"]);
    let mut socket = open(&token).await;
    subscribe(&mut socket, "1", TICKET_CHANGED).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // It streams while the token is valid…
    create_ticket();
    match next_for(&mut socket, "1").await {
        Frame::Json(message) if message["type"] == "next" => {
            assert!(message["payload"]["data"]["ticketChanged"]["id"].is_string(), "{message}");
        }
        other => panic!("no change while the token is valid: {other:?}"),
    }
    // …and ends when it expires: one last error, the completion, then the socket closes.
    let ended = loop {
        match next_for(&mut socket, "1").await {
            // Changes other tests make before the expiry.
            Frame::Json(message) if message["type"] == "next" && message["payload"]["errors"].is_null() => continue,
            frame => break frame,
        }
    };
    assert_eq!(code(&ended), "UNAUTHENTICATED", "{ended:?}");
    match next_for(&mut socket, "1").await {
        Frame::Json(message) => assert_eq!(message["type"], "complete", "{message}"),
        other => panic!("no completion: {other:?}"),
    }
    create_ticket();
    match next(&mut socket).await {
        Frame::Closed(Some(4403)) => {}
        other => panic!("streamed after the token expired: {other:?}"),
    }
}

#[tokio::test]
async fn one_connection_holds_at_most_32_subscriptions_and_stays_usable() {
    let token = agent_token("ws-cap-connection-agent", &[]);
    let mut socket = open(&token).await;
    for id in 1..=32 {
        subscribe(&mut socket, &id.to_string(), TICKET_CHANGED).await;
    }
    subscribe(&mut socket, "33", TICKET_CHANGED).await;
    let refused = next_for(&mut socket, "33").await;
    assert_eq!(code(&refused), "LIMIT_EXCEEDED", "{refused:?}");
    match next_for(&mut socket, "33").await {
        Frame::Json(message) => assert_eq!(message["type"], "complete", "{message}"),
        other => panic!("{other:?}"),
    }
    // Ending one makes room; the socket went on all along.
    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
    subscribe(&mut socket, "34", "{ me { user } }").await;
    match next_for(&mut socket, "34").await {
        Frame::Json(message) => {
            assert_eq!(message["payload"]["data"]["me"]["user"], "ws-cap-connection-agent", "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn one_user_holds_at_most_64_subscriptions_over_their_connections() {
    let token = agent_token("ws-cap-user-agent", &[]);
    let mut first = open(&token).await;
    let mut second = open(&token).await;
    for id in 1..=32 {
        subscribe(&mut first, &id.to_string(), TICKET_CHANGED).await;
        subscribe(&mut second, &id.to_string(), TICKET_CHANGED).await;
    }
    // Make sure both sockets have started all 32 (messages on one socket run in order).
    for socket in [&mut first, &mut second] {
        subscribe(socket, "probe", TICKET_CHANGED).await;
        assert_eq!(code(&next_for(socket, "probe").await), "LIMIT_EXCEEDED");
    }
    let mut third = open(&token).await;
    subscribe(&mut third, "1", "{ me { user } }").await;
    let refused = next_for(&mut third, "1").await;
    assert_eq!(code(&refused), "LIMIT_EXCEEDED", "{refused:?}");
    // Another user is not affected.
    let mut other = open(&agent_token("ws-cap-user-other", &[])).await;
    subscribe(&mut other, "1", "{ me { user } }").await;
    match next_for(&mut other, "1").await {
        Frame::Json(message) => assert_eq!(message["payload"]["data"]["me"]["user"], "ws-cap-user-other", "{message}"),
        other => panic!("{other:?}"),
    }
    // Closing a connection gives its subscriptions back.
    first.close(None).await.unwrap();
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 2.. {
        let id = attempt.to_string();
        subscribe(&mut third, &id, "{ me { user } }").await;
        let frame = next_for(&mut third, &id).await;
        if let Frame::Json(message) = &frame {
            if message["payload"]["data"]["me"]["user"] == "ws-cap-user-agent" {
                break;
            }
        }
        assert!(Instant::now() < deadline, "still refused after the first connection closed: {frame:?}");
        let _ = next_for(&mut third, &id).await; // its completion
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `hotline_kpi_board_computations_total` from `/metrics`.
fn board_computations() -> u64 {
    let (status, body) = get(&server().address, "/metrics");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("hotline_kpi_board_computations_total "))
        .unwrap_or_else(|| panic!("no hotline_kpi_board_computations_total in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_kpi_board_is_computed_once_per_change_however_many_watch_it() {
    // Issue 12: 1,000 kpiBoard subscriptions made each ticket change cost ~3.8 s, one board per
    // subscriber. Eight subscribers on two connections, one change.
    let before = board_computations();
    let board = "subscription { kpiBoard(scope: {level: SUBSIDIARY, id: \"tj01\"}) { bucket closed due } }";
    let mut sockets = [open(&server().token).await, open(&server().token).await];
    for socket in &mut sockets {
        for id in 1..=4 {
            subscribe(socket, &id.to_string(), board).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    create_ticket();
    let mut most_boards = 0;
    for socket in &mut sockets {
        let mut boards = [0usize; 4];
        // Every subscriber gets the board of the change…
        while boards.contains(&0) {
            match next(socket).await {
                Frame::Json(message) if message["type"] == "next" => {
                    assert!(message["payload"]["data"]["kpiBoard"].is_array(), "{message}");
                    let id: usize = message["id"].as_str().unwrap().parse().unwrap();
                    boards[id - 1] += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        // …and maybe boards of other changes (the projections catching up after start, other
        // tests): the first subscriber, subscribed before the others, gets every one.
        while let Some(Frame::Json(message)) = next_within(socket, Duration::from_millis(500)).await {
            let id: usize = message["id"].as_str().unwrap().parse().unwrap();
            boards[id - 1] += 1;
        }
        most_boards = most_boards.max(*boards.iter().max().unwrap());
    }
    let computed = board_computations() - before;
    // One computation per change, shared by all eight; one per subscriber would be at least 8.
    assert!(computed >= 1 && computed <= most_boards as u64, "{computed} computations for {most_boards} changes");
}
