//! The audit trail under abuse: however many fields or aliases ask for audited data, one request
//! is one audit event, listing each thing it was shown once.

use crate::support::*;
use serde_json::Value;

/// The `SensitiveRead` audit events in the shared server's log, oldest first.
fn sensitive_reads() -> Vec<Value> {
    let database = server().data_dir.join("hotline.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", database.display())).await.unwrap();
        let payloads: Vec<String> = sqlx::query_scalar(
            "SELECT payload FROM events WHERE event_type = 'SensitiveRead' ORDER BY global_position",
        )
        .fetch_all(&mut connection)
        .await
        .unwrap();
        payloads.iter().map(|p| serde_json::from_str(p).unwrap()).collect()
    })
}

#[test]
fn a_request_with_many_aliases_of_audited_fields_is_one_audit_event() {
    let create =
        "mutation { createTicket(input: {type: \"repair\", urgency: \"normal\", callerPhone: \"13812345678\", \
                  address: \"幸福里3号楼\", description: \"暖气不热\"}) { ticket { id } position } }";
    let created = query(Some(&bearer()), create).json();
    let id = created["data"]["createTicket"]["ticket"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let position = created["data"]["createTicket"]["position"].as_u64().unwrap();
    let supervisor = hotline(
        &server().data_dir,
        &["token", "--user", "tj01-supervisor", "--roles", "supervisor", "--tenant", "tj01"],
    );
    let mut aliases = String::new();
    for i in 0..40 {
        aliases.push_str(&format!(" p{i}: ticket(id: \"{id}\", afterPosition: {position}) {{ callerPhone }}"));
        aliases.push_str(&format!(" h{i}: ticketHistory(id: \"{id}\") {{ eventType }}"));
    }
    let before = sensitive_reads().len();
    let answer = query(Some(&format!("Bearer {supervisor}")), &format!("{{{aliases} }}"));
    let json = answer.json();
    assert!(json["errors"].is_null(), "{json}");
    assert_eq!(json["data"]["p39"]["callerPhone"], "13812345678", "shown in full to a supervisor");
    // Before: 80 audit events, one per alias.
    let reads = sensitive_reads();
    assert_eq!(reads.len(), before + 1, "one event for the request: {:?}", &reads[before..]);
    let event = &reads[before];
    assert_eq!(event["reader"], "tj01-supervisor");
    assert_eq!(event["unmasked_tickets"], serde_json::json!([id]));
    assert_eq!(event["ticket_histories"], serde_json::json!([id]));
    // A masked read is not audited at all.
    let agent = query(Some(&bearer()), &format!("{{ ticket(id: \"{id}\") {{ callerPhone }} }}")).json();
    assert_eq!(agent["data"]["ticket"]["callerPhone"], "138****5678", "{agent}");
    assert_eq!(sensitive_reads().len(), before + 1);
}
