//! Text that would poison the read side (issue 12): a NUL byte, which PostgreSQL refuses in
//! `text` and which stopped the `tickets` projection for every tenant, and descriptions longer
//! than the field allows. Both are refused by the domain with `INVALID_INPUT`, nothing appended.

use crate::support::*;
use serde_json::{json, Value};
use sqlx::Connection;

const CREATE: &str =
    "mutation($input: CreateTicketInput!) { createTicket(input: $input) { position ticket { id number } } }";

fn ticket_input(description: &str) -> Value {
    json!({ "type": "repair", "address": "幸福里3号楼2单元501室", "description": description })
}

/// Events in the PostgreSQL server's log.
fn events_in_log(server: &Server) -> i64 {
    let url = &server.postgres.as_ref().expect("a PostgreSQL server").url;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect to the server's database");
        sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut conn).await.expect("count events")
    })
}

#[test]
fn a_nul_byte_in_a_description_on_postgres_is_refused_and_tickets_still_project() {
    let server = postgres_server();
    let before = events_in_log(server);
    let answer = server.graphql(&server.token, CREATE, json!({ "input": ticket_input("暖气\u{0}不热") }));
    assert_eq!(answer.code(), "INVALID_INPUT", "{}", answer.json());
    assert_eq!(answer.json()["errors"][0]["extensions"]["rule"], "ControlCharacter");
    assert_eq!(events_in_log(server), before, "nothing appended, not even a ticket number");

    // The next ticket of any tenant projects: the list shows it.
    let answer = server.graphql(&server.token, CREATE, json!({ "input": ticket_input("暖气不热\n三楼东户") }));
    let created = &answer.json()["data"]["createTicket"];
    let number = created["ticket"]["number"].as_str().unwrap_or_else(|| panic!("{}", answer.json())).to_owned();
    let list = server.graphql(
        &server.token,
        "query($p: Int) { tickets(first: 200, afterPosition: $p) { edges { node { number description } } } }",
        json!({ "p": created["position"] }),
    );
    let edges = list.json()["data"]["tickets"]["edges"].as_array().cloned().unwrap_or_default();
    let shown =
        edges.iter().find(|e| e["node"]["number"] == number.as_str()).unwrap_or_else(|| panic!("{}", list.json()));
    assert_eq!(shown["node"]["description"], "暖气不热\n三楼东户");
}

#[test]
fn a_description_one_character_over_the_limit_is_refused() {
    let server = server();
    let answer = server.graphql(&server.token, CREATE, json!({ "input": ticket_input(&"热".repeat(2_001)) }));
    assert_eq!(answer.code(), "INVALID_INPUT", "{}", answer.json());
    assert_eq!(answer.json()["errors"][0]["extensions"]["rule"], "TextTooLong");
    let answer = server.graphql(&server.token, CREATE, json!({ "input": ticket_input(&"热".repeat(2_000)) }));
    assert!(answer.json()["data"]["createTicket"]["ticket"]["number"].is_string(), "{}", answer.json());
}

#[test]
fn control_characters_in_an_address_are_refused() {
    let server = server();
    for address in ["幸福里\n3号楼", "幸福里\u{1b}[2J", "幸福里\u{7f}"] {
        let input = json!({ "type": "repair", "address": address, "description": "暖气不热" });
        let answer = server.graphql(&server.token, CREATE, json!({ "input": input }));
        assert_eq!(answer.code(), "INVALID_INPUT", "{address:?}: {}", answer.json());
    }
    assert_still_serving();
}
