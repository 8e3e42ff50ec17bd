//! Retries under abuse (issue 12): many concurrent deliveries of one `createTicket` with one
//! `clientCommandId` all get the first result, and the id reused for a different command answers
//! `CONFLICT` with nothing done.

use crate::support::*;
use serde_json::json;
use std::collections::BTreeSet;

const CREATE: &str = "mutation($input: CreateTicketInput!, $cid: ID) { \
                      createTicket(input: $input, clientCommandId: $cid) { duplicate ticket { id number } } }";

#[test]
fn fifty_concurrent_retries_of_one_create_ticket_all_get_its_first_result() {
    let server = server();
    let cid = uuid::Uuid::now_v7().to_string();
    let input = json!({ "type": "repair", "address": "幸福里5号楼", "description": "暖气不热" });
    let retries: Vec<_> = (0..50)
        .map(|_| {
            let (cid, input) = (cid.clone(), input.clone());
            std::thread::spawn(move || {
                server.graphql(&server.token, CREATE, json!({ "input": input, "cid": cid })).json()
            })
        })
        .collect();
    let answers: Vec<_> = retries.into_iter().map(|retry| retry.join().expect("a retry")).collect();
    let tickets: BTreeSet<String> = answers
        .iter()
        .map(|answer| {
            let ticket = &answer["data"]["createTicket"]["ticket"];
            assert!(ticket["number"].is_string(), "every retry gets the ticket: {answer}");
            format!("{} {}", ticket["id"], ticket["number"])
        })
        .collect();
    assert_eq!(tickets.len(), 1, "one ticket and one number for all: {tickets:?}");
    let first = answers.iter().filter(|a| a["data"]["createTicket"]["duplicate"] == false).count();
    assert_eq!(first, 1, "one delivery registered it, the others are duplicates");
}

#[test]
fn a_client_command_id_reused_for_a_different_command_answers_conflict() {
    let server = server();
    let cid = uuid::Uuid::now_v7().to_string();
    let input = json!({ "type": "repair", "address": "幸福里6号楼", "description": "暖气不热" });
    let first = server.graphql(&server.token, CREATE, json!({ "input": input, "cid": cid })).json();
    assert!(first["data"]["createTicket"]["ticket"]["number"].is_string(), "{first}");
    let other = json!({ "type": "repair", "address": "幸福里6号楼", "description": "漏水" });
    let reused = server.graphql(&server.token, CREATE, json!({ "input": other, "cid": cid }));
    assert_eq!(reused.code(), "CONFLICT", "{}", reused.json());
    // The same command again is still a retry.
    let again = server.graphql(&server.token, CREATE, json!({ "input": input, "cid": cid })).json();
    assert_eq!(again["data"]["createTicket"]["duplicate"], true, "{again}");
    assert_eq!(again["data"]["createTicket"]["ticket"], first["data"]["createTicket"]["ticket"]);
    // Another caller (of another subsidiary) with the same id is a different command too.
    let stolen = server.graphql(&server.other_token, CREATE, json!({ "input": input, "cid": cid }));
    assert_eq!(stolen.code(), "CONFLICT", "{}", stolen.json());
}
