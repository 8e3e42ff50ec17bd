//! The GraphQL API as a frontend uses it: a real `hotline serve`, HTTP requests with bearer
//! tokens minted by `hotline token`.

#[path = "../../commands/tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hotline(dir: &Path, args: &[&str]) -> String {
    hotline_with(dir, &[], args)
}

/// Runs `hotline` with these environment variables (embedded mode unless they say otherwise).
fn hotline_with(dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> String {
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

async fn serve(dir: &Path) -> Server {
    serve_with(dir, &[]).await
}

async fn serve_with(dir: &Path, envs: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("HOTLINE_DATABASE_URL")
        .env("HOTLINE_LOG", "warn")
        .envs(envs.iter().copied())
        .spawn()
        .expect("start serve");
    // The guard first: whatever happens next, dropping it stops and reaps the process.
    let server = Server { child, url: format!("http://127.0.0.1:{port}/graphql") };
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_ok() {
            return server;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("serve did not come up");
}

async fn gql(server: &Server, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = reqwest::Client::new().post(&server.url).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").json().await.expect("JSON body")
}

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {response}"))
}

fn data<'a>(response: &'a Value, field: &str) -> &'a Value {
    assert!(response.get("errors").is_none(), "{response}");
    &response["data"][field]
}

const TICKET: &str = "ticket { id number status statusLabel pool callerPhone station worker }";

#[tokio::test]
async fn a_ticket_through_every_core_node_and_every_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    hotline(dir, &["demo", "--events", "300"]);
    let agent = hotline(dir, &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
    let lead = hotline(
        dir,
        &[
            "token",
            "--user",
            "tj01-st01-lead",
            "--roles",
            "station_lead",
            "--tenant",
            "tj01",
            "--org-path",
            "/hq/north/tj01/tj01-st01",
        ],
    );
    let worker = hotline(
        dir,
        &[
            "token",
            "--user",
            "tj01-st01-w1",
            "--roles",
            "field_worker",
            "--tenant",
            "tj01",
            "--org-path",
            "/hq/north/tj01/tj01-st01",
        ],
    );
    let supervisor = hotline(dir, &["token", "--user", "tj01-supervisor", "--roles", "supervisor", "--tenant", "tj01"]);
    let other_tenant = hotline(dir, &["token", "--user", "tj02-agent1", "--roles", "agent", "--tenant", "tj02"]);
    let server = serve(dir).await;

    let create = format!(
        "mutation($input: CreateTicketInput!, $cid: ID) {{ createTicket(input: $input, clientCommandId: $cid) {{ position duplicate {TICKET} }} }}"
    );
    let input = json!({ "type": "repair", "urgency": "urgent", "callerPhone": "13812345678", "address": "幸福里3号楼2单元501室", "description": "暖气不热" });
    let cid = uuid::Uuid::now_v7().to_string();
    let created = gql(&server, Some(&agent), &create, json!({ "input": input, "cid": cid })).await;
    let payload = data(&created, "createTicket");
    let id = payload["ticket"]["id"].as_str().unwrap().to_owned();
    assert_eq!(payload["ticket"]["status"], "registered");
    assert_eq!(payload["ticket"]["pool"], "pending");
    assert_eq!(payload["ticket"]["callerPhone"], "138****5678", "agents see masked numbers");
    // The same client command id again: the first result, nothing appended.
    let again = gql(&server, Some(&agent), &create, json!({ "input": input, "cid": cid })).await;
    assert_eq!(data(&again, "createTicket")["duplicate"], true);
    assert_eq!(data(&again, "createTicket")["ticket"]["id"], id.as_str());
    assert_eq!(data(&again, "createTicket")["position"], payload["position"]);

    let step = |token: &str, mutation: &str| {
        let (token, query) = (token.to_owned(), format!("mutation($id: ID!) {{ {mutation} {{ position {TICKET} }} }}"));
        let server = &server;
        let id = id.clone();
        async move { gql(server, Some(&token), &query, json!({ "id": id })).await }
    };
    let flow = [
        (agent.as_str(), "dispatchTicket(ticketId: $id, station: \"tj01-st01\")", "dispatched"),
        (lead.as_str(), "acceptTicket(ticketId: $id, station: \"tj01-st01\", worker: \"tj01-st01-w1\")", "accepted"),
        (worker.as_str(), "checkIn(ticketId: $id, latitude: 39.1, longitude: 117.2, accuracyM: 8)", "on_site"),
        (worker.as_str(), "recordWorkResult(ticketId: $id, result: \"更换阀门\", durationMinutes: 30)", "on_site"),
        (worker.as_str(), "completeWork(ticketId: $id)", "completed"),
        // The demo's tenant tj01 added a quality check after field work.
        (lead.as_str(), "completeWorkflowNode(ticketId: $id, node: \"quality_check\")", "completed"),
        (agent.as_str(), "recordCallback(ticketId: $id, satisfaction: \"satisfied\")", "callback_done"),
        (agent.as_str(), "closeTicket(ticketId: $id)", "closed"),
    ];
    for (token, mutation, status) in flow {
        let response = step(token, mutation).await;
        let name = mutation.split('(').next().unwrap();
        assert_eq!(data(&response, name)["ticket"]["status"], status, "{mutation}: {response}");
    }

    // Domain rules come back typed.
    let closed_again = step(&agent, "closeTicket(ticketId: $id)").await;
    assert_eq!(code(&closed_again), "DOMAIN_RULE");
    assert_eq!(closed_again["errors"][0]["extensions"]["rule"], "TicketAlreadyClosed");
    // A worker may not dispatch; a subsidiary never sees another's tickets.
    assert_eq!(code(&step(&worker, "dispatchTicket(ticketId: $id, station: \"tj01-st01\")").await), "FORBIDDEN");
    let foreign =
        gql(&server, Some(&other_tenant), "query($id: ID!) { ticket(id: $id) { number } }", json!({ "id": id })).await;
    assert_eq!(code(&foreign), "NOT_FOUND", "out of scope answers like unknown");
    let listed =
        gql(&server, Some(&other_tenant), "{ tickets(first: 200) { edges { node { tenant } } } }", json!({})).await;
    assert!(
        data(&listed, "tickets")["edges"].as_array().unwrap().iter().all(|e| e["node"]["tenant"] == "tj02"),
        "{listed}"
    );
    // A supervisor sees the number; an auditor-only query is refused to an agent.
    let full =
        gql(&server, Some(&supervisor), "query($id: ID!) { ticket(id: $id) { callerPhone } }", json!({ "id": id }))
            .await;
    assert_eq!(data(&full, "ticket")["callerPhone"], "13812345678");
    let history = gql(
        &server,
        Some(&supervisor),
        "query($id: ID!) { ticketHistory(id: $id) { eventType actor source } }",
        json!({ "id": id }),
    )
    .await;
    let types: Vec<&str> =
        data(&history, "ticketHistory").as_array().unwrap().iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(types.first().copied(), Some("TicketCreated"));
    assert_eq!(types.last().copied(), Some("TicketClosed"));
    assert_eq!(
        code(
            &gql(
                &server,
                Some(&agent),
                "query($id: ID!) { ticketHistory(id: $id) { eventType } }",
                json!({ "id": id })
            )
            .await
        ),
        "FORBIDDEN"
    );
    // Both reads by the supervisor (the unmasked number, the history) are themselves in the log;
    // the agent's masked reads are not.
    let audited: Vec<(String, String)> = {
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("hotline.db").display())).await.unwrap();
        sqlx::query_as("SELECT event_type, payload FROM events WHERE stream_id LIKE 'audit-%' ORDER BY global_position")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    let kinds: Vec<&str> = audited.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["SensitiveRead", "SensitiveRead"]);
    assert!(audited[0].1.contains("\"unmasked_tickets\":[\""), "the number: {audited:?}");
    assert!(audited[1].1.contains("\"ticket_histories\":[\""), "the history: {audited:?}");
    assert!(audited.iter().all(|(_, payload)| payload.contains("\"reader\":\"tj01-supervisor\"")), "{audited:?}");
    // Time travel: the ticket as the log held it at an instant.
    let at = "query($id: ID!, $at: DateTime!) { ticketAt(id: $id, at: $at) { status station events } }";
    let later = gql(&server, Some(&supervisor), at, json!({ "id": id, "at": "2100-01-01T00:00:00Z" })).await;
    assert_eq!(data(&later, "ticketAt")["status"], "closed");
    let before = gql(&server, Some(&supervisor), at, json!({ "id": id, "at": "2000-01-01T00:00:00Z" })).await;
    assert!(data(&before, "ticketAt").is_null(), "{before}");
    assert_eq!(
        code(&gql(&server, Some(&agent), at, json!({ "id": id, "at": "2100-01-01T00:00:00Z" })).await),
        "FORBIDDEN"
    );

    // Tokens: none, forged, expired.
    assert_eq!(code(&gql(&server, None, "{ me { user } }", json!({})).await), "UNAUTHENTICATED");
    let mut forged = agent.clone();
    forged.pop();
    forged.push(if agent.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(code(&gql(&server, Some(&forged), "{ me { user } }", json!({})).await), "UNAUTHENTICATED");
    let expired = hotline(dir, &["token", "--user", "u", "--roles", "agent", "--tenant", "tj01", "--hours=-2"]);
    assert_eq!(code(&gql(&server, Some(&expired), "{ me { user } }", json!({})).await), "UNAUTHENTICATED");
    // Over-deep queries are refused before they run.
    let nested = "{ tickets { edges { node { id } } pageInfo { hasNextPage } } }";
    assert!(gql(&server, Some(&agent), nested, json!({})).await.get("errors").is_none());
    let too_deep = format!(
        "{{ __schema {{ types {} }} }}",
        "{ fields { type { ofType ".repeat(4) + "{ name }" + &" } } }".repeat(4)
    );
    let refused = gql(&server, Some(&agent), &too_deep, json!({})).await;
    assert_eq!(code(&refused), "INVALID_INPUT");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("too deep"), "{refused}");
    // A gated operation: refused without approval; once every level approved, it takes effect
    // by itself (the approval applier), and the ticket shows it.
    let second = gql(&server, Some(&agent), "mutation { createTicket(input: { type: \"consultation\", address: \"x\", description: \"重复来电\" }) { ticket { id } } }", json!({})).await;
    let second = data(&second, "createTicket")["ticket"]["id"].as_str().unwrap().to_owned();
    let void = gql(
        &server,
        Some(&agent),
        "mutation($id: ID!) { voidTicket(ticketId: $id, reason: \"重复\") { position } }",
        json!({ "id": second }),
    )
    .await;
    assert_eq!(void["errors"][0]["extensions"]["rule"], "ApprovalRequired", "{void}");
    let requested = gql(&server, Some(&agent), "mutation($id: ID!) { requestApproval(ticketId: $id, operation: \"void\", reason: \"重复工单\") { approvalId } }", json!({ "id": second })).await;
    let approval = data(&requested, "requestApproval")["approvalId"].as_str().unwrap().to_owned();
    let subsidiary_admin =
        hotline(dir, &["token", "--user", "tj01-admin", "--roles", "subsidiary_admin", "--tenant", "tj01"]);
    // The ticket has no station: the subsidiary's supervisor decides the station level.
    for (token, level) in [(&supervisor, "station"), (&subsidiary_admin, "subsidiary")] {
        let decide = gql(
            &server,
            Some(token),
            "mutation($a: ID!, $l: String!) { decideApproval(approvalId: $a, level: $l, approve: true) { position } }",
            json!({ "a": approval, "l": level }),
        )
        .await;
        data(&decide, "decideApproval");
    }
    let mut status = String::new();
    for _ in 0..50 {
        let ticket =
            gql(&server, Some(&agent), "query($id: ID!) { ticket(id: $id) { status } }", json!({ "id": second })).await;
        status = data(&ticket, "ticket")["status"].as_str().unwrap().to_owned();
        if status == "voided" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "voided", "the granted void took effect by itself");
    let metrics = reqwest::get(server.url.replace("/graphql", "/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("hotline_log_head ") && metrics.contains("hotline_projection_lag{projection=\"tickets\"}"),
        "{metrics}"
    );

    // Wide but shallow queries are refused by complexity (aliases multiply the work), below the
    // cap on aliases.
    let wide = format!(
        "{{ {} }}",
        (0..50)
            .map(|i| format!("t{i}: tickets(first: 200) {{ edges {{ node {{ id number }} }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let refused = gql(&server, Some(&agent), &wide, json!({})).await;
    assert_eq!(code(&refused), "INVALID_INPUT");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("complex"), "{refused}");
    let full_page = "{ tickets(first: 200) { edges { cursor node { id number tenant type typeLabel urgency source status \
        statusLabel pool callerPhone address description createdBy createdAt deadlineAt deadlineState station worker \
        supervised escalated urgeCount closedAt callbackSatisfaction lastPosition } } pageInfo { hasNextPage endCursor } } }";
    assert!(
        gql(&server, Some(&agent), full_page, json!({})).await.get("errors").is_none(),
        "a full page of every field is allowed"
    );

    // Dictionaries carry zh-CN labels.
    let dict =
        gql(&server, Some(&agent), "{ dictionaries(category: \"ticket_type\") { code labelZh } }", json!({})).await;
    assert!(data(&dict, "dictionaries")
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["code"] == "escalated_complaint" && e["labelZh"] == "越级投诉"));
}

#[tokio::test]
async fn offline_batches_are_idempotent_and_a_subscription_sees_every_change() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    hotline(dir, &["demo", "--events", "300"]);
    let agent = hotline(dir, &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
    let lead = hotline(
        dir,
        &[
            "token",
            "--user",
            "tj01-st02-lead",
            "--roles",
            "station_lead",
            "--tenant",
            "tj01",
            "--org-path",
            "/hq/north/tj01/tj01-st02",
        ],
    );
    let worker = hotline(
        dir,
        &[
            "token",
            "--user",
            "tj01-st02-w1",
            "--roles",
            "field_worker",
            "--tenant",
            "tj01",
            "--org-path",
            "/hq/north/tj01/tj01-st02",
        ],
    );
    let server = serve(dir).await;

    let mut request =
        server.url.replace("http://", "ws://").replace("/graphql", "/graphql/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("websocket");
    let send = |value: Value| Message::Text(value.to_string().into());
    ws.send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {agent}") } })))
        .await
        .unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
    let subscription = "subscription { ticketChanged { id number status } }";
    ws.send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": subscription } }))).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let create = "mutation { createTicket(input: { type: \"repair\", address: \"阳光花园1号楼\", description: \"漏水\" }) { ticket { id number } } }";
    let created = gql(&server, Some(&agent), create, json!({})).await;
    let id = data(&created, "createTicket")["ticket"]["id"].as_str().unwrap().to_owned();
    let number = data(&created, "createTicket")["ticket"]["number"].as_str().unwrap().to_owned();
    let dispatch = "mutation($id: ID!) { dispatchTicket(ticketId: $id, station: \"tj01-st02\") { position } }";
    data(&gql(&server, Some(&agent), dispatch, json!({ "id": id })).await, "dispatchTicket");
    let accept = "mutation($id: ID!) { acceptTicket(ticketId: $id, station: \"tj01-st02\", worker: \"tj01-st02-w1\") { position } }";
    data(&gql(&server, Some(&lead), accept, json!({ "id": id })).await, "acceptTicket");

    // The worker was offline on site: three commands arrive in one batch, with device times.
    let device_time = "2026-11-23T02:00:00Z";
    let batch = json!([
        { "clientCommandId": uuid::Uuid::now_v7().to_string(), "deviceTime": device_time, "ticketId": id, "action": "check_in",
          "args": { "latitude": 39.1, "longitude": 117.2, "accuracy_m": 6.0 } },
        { "clientCommandId": uuid::Uuid::now_v7().to_string(), "deviceTime": device_time, "ticketId": id, "action": "record_result",
          "args": { "result": "更换阀门", "duration_minutes": 25 } },
        { "clientCommandId": uuid::Uuid::now_v7().to_string(), "deviceTime": device_time, "ticketId": id, "action": "complete_work" },
        { "clientCommandId": uuid::Uuid::now_v7().to_string(), "deviceTime": device_time, "ticketId": id, "action": "complete_work" },
        { "clientCommandId": uuid::Uuid::now_v7().to_string(), "deviceTime": device_time, "ticketId": id, "action": "teleport" },
    ]);
    let sync = "mutation($commands: [SyncCommandInput!]!) { syncBatch(commands: $commands) { clientCommandId status rule position } }";
    let first = gql(&server, Some(&worker), sync, json!({ "commands": batch })).await;
    let statuses: Vec<&str> =
        data(&first, "syncBatch").as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["APPLIED", "APPLIED", "APPLIED", "REJECTED", "REJECTED"], "{first}");
    assert_eq!(data(&first, "syncBatch")[3]["rule"], "InvalidTransition");
    assert_eq!(data(&first, "syncBatch")[4]["rule"], "INVALID_INPUT");
    let health = || async {
        reqwest::get(server.url.replace("/graphql", "/healthz")).await.unwrap().json::<Value>().await.unwrap()["head"]
            .clone()
    };
    let head = health().await;
    // The phone did not hear back and sends the batch again: nothing new is appended.
    let again = gql(&server, Some(&worker), sync, json!({ "commands": batch })).await;
    let statuses: Vec<&str> =
        data(&again, "syncBatch").as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["DUPLICATE", "DUPLICATE", "DUPLICATE", "REJECTED", "REJECTED"], "{again}");
    for i in 0..3 {
        assert_eq!(data(&again, "syncBatch")[i]["position"], data(&first, "syncBatch")[i]["position"]);
    }
    assert_eq!(health().await, head, "a duplicated batch appends nothing");
    // The device time is what the history records.
    let supervisor = hotline(dir, &["token", "--user", "tj01-supervisor", "--roles", "supervisor", "--tenant", "tj01"]);
    let history = gql(
        &server,
        Some(&supervisor),
        "query($id: ID!) { ticketHistory(id: $id) { eventType occurredAt source } }",
        json!({ "id": id }),
    )
    .await;
    let check_in = data(&history, "ticketHistory")
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["eventType"] == "WorkerCheckedIn")
        .cloned()
        .unwrap();
    assert_eq!(
        (check_in["occurredAt"].as_str(), check_in["source"].as_str()),
        (Some("2026-11-23T02:00:00+00:00"), Some("mobile"))
    );

    // The subscriber saw each change of this ticket, in order.
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while seen.last().map(String::as_str) != Some("completed") {
        let message =
            tokio::time::timeout_at(deadline, ws.next()).await.expect("subscription events in time").unwrap().unwrap();
        let value: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        let ticket = &value["payload"]["data"]["ticketChanged"];
        if ticket["number"] == number.as_str() {
            let status = ticket["status"].as_str().unwrap().to_owned();
            if seen.last() != Some(&status) {
                seen.push(status);
            }
        }
    }
    // In order, ending completed. A message carries the ticket's state when it is sent, so
    // changes committed close together (the offline batch's check-in and completion) may arrive
    // as their latest state only; never out of order, never a state it did not pass through.
    let path = ["registered", "dispatched", "accepted", "on_site", "completed"];
    let mut rest = path.iter();
    assert!(seen.iter().all(|s| rest.any(|p| p == s)), "out of order: {seen:?}");
    assert!(seen.len() >= 2, "a change before completion was seen: {seen:?}");
}

#[tokio::test]
async fn two_nodes_on_one_postgres_and_nats_agree_and_see_each_others_changes() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (admin_url, db_url, database) = support::fresh_postgres_database().await;
    let nats_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut nats = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &nats_port.to_string(), "-sd"])
        .arg(dir.join("nats"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server: run ops/test.sh or `apt-get install -y nats-server`");
    let nats_url = format!("nats://127.0.0.1:{nats_port}");
    let env = [("HOTLINE_DATABASE_URL", db_url.as_str()), ("HOTLINE_NATS_URL", nats_url.as_str())];
    hotline_with(dir, &env, &["demo", "--events", "200"]);
    let agent = hotline_with(dir, &env, &["token", "--user", "tj01-agent1", "--roles", "agent", "--tenant", "tj01"]);
    let (a, b) = (serve_with(dir, &env).await, serve_with(dir, &env).await);

    let mut request =
        b.url.replace("http://", "ws://").replace("/graphql", "/graphql/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("websocket to node B");
    let send = |value: Value| Message::Text(value.to_string().into());
    ws.send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {agent}") } })))
        .await
        .unwrap();
    assert!(ws.next().await.unwrap().unwrap().to_text().unwrap().contains("connection_ack"));
    ws.send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { ticketChanged { number status } }" } }))).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Written through node A.
    let created = gql(&a, Some(&agent), "mutation { createTicket(input: { type: \"repair\", address: \"x\", description: \"y\" }) { position ticket { id number } } }", json!({})).await;
    let id = data(&created, "createTicket")["ticket"]["id"].as_str().unwrap().to_owned();
    let number = data(&created, "createTicket")["ticket"]["number"].as_str().unwrap().to_owned();
    let position = data(&created, "createTicket")["position"].clone();
    let dispatched = gql(
        &a,
        Some(&agent),
        "mutation($id: ID!) { dispatchTicket(ticketId: $id, station: \"tj01-st01\") { position } }",
        json!({ "id": id }),
    )
    .await;
    let position_after = data(&dispatched, "dispatchTicket")["position"].clone();

    // Node B's subscriber sees both changes it did not make.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while seen.len() < 2 {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("node B's subscriber hears of node A's writes")
            .unwrap()
            .unwrap();
        let value: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        let ticket = &value["payload"]["data"]["ticketChanged"];
        if ticket["number"] == number.as_str() && seen.last() != Some(&ticket["status"]) {
            seen.push(ticket["status"].clone());
        }
    }
    assert_eq!(seen, [json!("registered"), json!("dispatched")]);
    // Both nodes answer the same, once their read models reached the write (read-your-writes
    // across nodes).
    let query =
        "query($id: ID!, $p: Int) { ticket(id: $id, afterPosition: $p) { number status station lastPosition } }";
    let on_a = gql(&a, Some(&agent), query, json!({ "id": id, "p": position_after })).await;
    let on_b = gql(&b, Some(&agent), query, json!({ "id": id, "p": position_after })).await;
    assert_eq!(data(&on_a, "ticket"), data(&on_b, "ticket"));
    assert_eq!(data(&on_b, "ticket")["status"], "dispatched");
    assert!(position.as_u64() < position_after.as_u64());

    drop((a, b));
    let _ = nats.kill();
    let _ = nats.wait();
    use sqlx::{Connection, Executor};
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let _ = admin.execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str()).await;
}

/// `serve --hep-listen`: mirrored signalling becomes call events in the log; what cannot be read
/// is counted in /metrics and kept at /telephony/rejected, never dropped silently.
#[tokio::test]
async fn serve_ingests_hep3_and_keeps_what_it_cannot_read() {
    use hotline_gateway_adapters::hep::HepPacket;
    let dir = tempfile::tempdir().unwrap();
    let hep_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let hep = format!("127.0.0.1:{hep_port}");
    let admin = hotline(dir.path(), &["token", "--user", "admin1", "--roles", "group_admin"]);
    let server = serve_with(dir.path(), &[("HOTLINE_HEP_LISTEN", &hep), ("HOTLINE_TELEPHONY_TENANT", "tj01")]).await;
    let base = server.url.trim_end_matches("/graphql").to_owned();
    let invite = "INVITE sip:96069@10.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-1\r\n\
        From: <sip:13812345678@10.0.0.9>;tag=a1\r\n\
        To: <sip:96069@10.0.0.1>\r\n\
        Call-ID: serve-test-1\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:13812345678@10.0.0.9>\r\n\
        Content-Length: 0\r\n\r\n";
    let packet = HepPacket {
        src: "10.0.0.9:5060".parse().unwrap(),
        dst: "10.0.0.1:5060".parse().unwrap(),
        captured_at: chrono::Utc::now(),
        payload: bytes::Bytes::from(invite.as_bytes().to_vec()),
        correlation_id: None,
        capture_agent: None,
    };
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(b"definitely not HEP", &hep).unwrap();
    socket.send_to(b"not HEP either, from 13812345678", &hep).unwrap();
    socket.send_to(&packet.encode(None).unwrap(), &hep).unwrap();

    let db = dir.path().join("hotline.db");
    let mut offered = 0i64;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut conn =
            <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        offered = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = 'CallOffered'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if offered > 0 {
            break;
        }
    }
    assert_eq!(offered, 1, "the INVITE became one CallOffered");
    // Raw SIP with callers' numbers: admins only.
    let url = format!("{base}/telephony/rejected");
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 401);
    let rejected: Value =
        reqwest::Client::new().get(&url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    let kept = rejected["rejected"].as_array().unwrap();
    assert_eq!(kept.len(), 2, "{rejected}");
    assert_eq!(kept[0]["text"], "definitely not HEP");
    // Numbers masked, no raw bytes: the caller's number is not shown even to a group admin.
    assert_eq!(kept[1]["text"], "not HEP either, from 138****5678", "{rejected}");
    assert!(!rejected.to_string().contains("12345678"), "{rejected}");
    // The read is in the audit trail.
    let audited: Vec<String> = {
        let mut conn =
            <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::query_scalar("SELECT payload FROM events WHERE event_type = 'SensitiveRead'")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(audited[0].contains("\"rejected_datagrams\":2"), "{audited:?}");
    assert!(audited[0].contains("\"reader\":\"admin1\""), "{audited:?}");
    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("hotline_sip_datagrams{outcome=\"received\"} 3"), "{metrics}");
    assert!(metrics.contains("hotline_sip_datagrams{outcome=\"hep_rejected\"} 2"), "{metrics}");
    // The kernel's side of the socket: what it dropped before the adapter could count anything
    // (nothing here), and the receive buffer it gave.
    assert!(metrics.contains("hotline_sip_kernel_drops{socket=\"hep\"} 0"), "{metrics}");
    let buffer: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hotline_sip_receive_buffer_bytes{socket=\"hep\"} "))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no receive buffer in {metrics}"));
    assert!(buffer >= 200 * 1024, "a receive buffer of {buffer} bytes");
}

/// Issue 15: the demo makes calls through the telephony adapter's path, so a newcomer's call
/// KPIs, agent board, call list and queue state show a call centre at work.
#[tokio::test]
async fn the_demo_gives_the_call_centre_figures_to_show() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    hotline(dir, &["demo", "--events", "600"]);
    let supervisor = hotline(dir, &["token", "--user", "tj01-supervisor", "--roles", "supervisor", "--tenant", "tj01"]);
    let server = serve(dir).await;
    let query =
        "{ callKpis(scope: { level: SUBSIDIARY }, from: \"2026-10-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\") \
                 { offered answered abandoned answerRate } \
                 agentBoard { agent signedIn } \
                 calls(first: 200, filter: { status: \"ended\" }) { edges { node { answeredAt endedAt } } } }";
    // The read side catches up with the demo's log after the server starts.
    let mut response = json!(null);
    for _ in 0..100 {
        response = gql(&server, Some(&supervisor), query, json!({})).await;
        if data(&response, "callKpis").as_array().is_some_and(|kpis| !kpis.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let kpis = data(&response, "callKpis").as_array().unwrap();
    let total = |field: &str| kpis.iter().map(|b| b[field].as_i64().unwrap()).sum::<i64>();
    assert!(total("offered") > 0 && total("answered") > 0, "{kpis:?}");
    assert!(total("answered") < total("offered"), "not every call is answered: {kpis:?}");
    let board = data(&response, "agentBoard").as_array().unwrap();
    assert_eq!(board.iter().filter(|a| a["signedIn"] == true).count(), 3, "{board:?}");
    let ended = data(&response, "calls")["edges"].as_array().unwrap();
    let first = &ended.first().expect("ended calls")["node"];
    // The queue as it stood a second after that call was answered: it was talking.
    let answered: chrono::DateTime<chrono::Utc> = first["answeredAt"].as_str().unwrap().parse().unwrap();
    let at = (answered + chrono::Duration::seconds(1)).to_rfc3339();
    let state = gql(
        &server,
        Some(&supervisor),
        "query($at: DateTime) { queueState(queue: \"repair\", at: $at) { talking { answeredAt } } }",
        json!({ "at": at }),
    )
    .await;
    let talking = data(&state, "queueState")["talking"].as_array().unwrap();
    assert!(talking.iter().any(|c| c["answeredAt"] == first["answeredAt"]), "{talking:?}");
}
