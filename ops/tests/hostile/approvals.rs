//! Approvals follow their chain (issue 12): each level is decided by the role at the unit it
//! names, inside the approval's subsidiary, never by the requester, never twice by one person;
//! asking needs a role and a ticket in scope; station roles list only what concerns them.

use crate::support::*;
use serde_json::Value;

/// A token minted by the server's key, with an explicit unit path.
fn token(user: &str, roles: &str, tenant: Option<&str>, path: &str) -> String {
    let mut args = vec!["token", "--user", user, "--roles", roles, "--org-path", path];
    if let Some(tenant) = tenant {
        args.extend(["--tenant", tenant]);
    }
    format!("Bearer {}", hotline(&server().data_dir, &args))
}

const TJ01_ST01: &str = "/hq/north/tj01/tj01-st01";

fn tj01_st01_lead() -> String {
    token("tj01-st01-lead", "station_lead", Some("tj01"), TJ01_ST01)
}

fn tj01_st02_lead() -> String {
    token("tj01-st02-lead", "station_lead", Some("tj01"), "/hq/north/tj01/tj01-st02")
}

fn tj02_st01_lead() -> String {
    token("tj02-st01-lead", "station_lead", Some("tj02"), "/hq/north/tj02/tj02-st01")
}

fn tj01_admin() -> String {
    format!("Bearer {}", server().subsidiary_admin_token)
}

/// Runs a query as `authorization`; the answer's JSON.
fn run(authorization: &str, q: &str) -> Answer {
    let answer = query(Some(authorization), q);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    answer
}

fn data(answer: &Answer) -> Value {
    let json = answer.json();
    assert!(json["errors"].is_null(), "{json}");
    json["data"].clone()
}

/// A tj01 ticket registered by tj01's agent and dispatched to tj01-st01; its id.
fn ticket_at_tj01_st01() -> String {
    let create =
        "mutation { createTicket(input: {type: \"repair\", urgency: \"normal\", callerPhone: \"13812345678\", \
                  address: \"幸福里3号楼\", description: \"暖气不热\"}) { ticket { id } } }";
    let created = data(&run(&bearer(), create));
    let id = created["createTicket"]["ticket"]["id"].as_str().unwrap().to_owned();
    let dispatch = format!("mutation {{ dispatchTicket(ticketId: \"{id}\", station: \"tj01-st01\") {{ position }} }}");
    data(&run(&bearer(), &dispatch));
    id
}

/// Asks for an approval of `operation` on the ticket as `authorization`; the answer.
fn request(authorization: &str, ticket: &str, operation: &str, details: &str) -> Answer {
    run(
        authorization,
        &format!(
            "mutation {{ requestApproval(ticketId: \"{ticket}\", operation: \"{operation}\", reason: \"申请\", \
             details: {details}) {{ approvalId position }} }}"
        ),
    )
}

fn requested(authorization: &str, ticket: &str, operation: &str) -> String {
    let answer = request(authorization, ticket, operation, "{}");
    data(&answer)["requestApproval"]["approvalId"].as_str().unwrap().to_owned()
}

fn decide(authorization: &str, approval: &str, level: &str) -> Answer {
    run(
        authorization,
        &format!("mutation {{ decideApproval(approvalId: \"{approval}\", level: \"{level}\", approve: true) {{ position }} }}"),
    )
}

/// The refusal's code, rule and message.
fn refusal(answer: &Answer) -> (String, Option<String>, String) {
    let json = answer.json();
    let error = &json["errors"][0];
    (
        answer.code(),
        error["extensions"]["rule"].as_str().map(str::to_owned),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

fn status(ticket: &str) -> String {
    let answer = run(&bearer(), &format!("{{ ticket(id: \"{ticket}\") {{ status }} }}"));
    data(&answer)["ticket"]["status"].as_str().unwrap().to_owned()
}

/// The ids of the approvals the caller lists.
fn listed(authorization: &str) -> Vec<String> {
    let answer = run(authorization, "{ approvals(pending: false) { id } }");
    data(&answer)["approvals"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect()
}

/// Issue 12: a tj02 station lead approved both levels of a tj01 void and the ticket was voided.
#[test]
fn another_subsidiarys_station_lead_approving_a_void_hears_it_does_not_exist() {
    let ticket = ticket_at_tj01_st01();
    let void = requested(&bearer(), &ticket, "void");
    let outsider = tj02_st01_lead();
    let unknown = "01900000-0000-7000-8000-000000000000";
    let (code, rule, message) = refusal(&decide(&outsider, &void, "station"));
    let (unknown_code, _, unknown_message) = refusal(&decide(&outsider, unknown, "station"));
    assert_eq!((code.as_str(), rule), ("NOT_FOUND", None));
    assert_eq!(code, unknown_code);
    assert_eq!(message.replace(&void, "X"), unknown_message.replace(unknown, "X"), "the same words");
    assert_eq!(refusal(&decide(&outsider, &void, "subsidiary")).0, "NOT_FOUND", "not even the level gives it away");
    // The station's own lead approves its level; the outsider still cannot take the next.
    data(&decide(&tj01_st01_lead(), &void, "station"));
    assert_eq!(refusal(&decide(&outsider, &void, "subsidiary")).0, "NOT_FOUND");
    assert!(!listed(&outsider).contains(&void), "another subsidiary never lists it");
    assert_ne!(status(&ticket), "voided");
}

/// Issue 12: a station lead who cannot read a ticket approved its cancellation alone.
#[test]
fn a_station_lead_who_cannot_read_the_ticket_may_not_approve_its_cancellation() {
    let ticket = ticket_at_tj01_st01();
    let cancel = requested(&bearer(), &ticket, "cancel");
    let other_station = tj01_st02_lead();
    let read = run(&other_station, &format!("{{ ticket(id: \"{ticket}\") {{ status }} }}"));
    assert_eq!(read.code(), "NOT_FOUND", "tj01-st02's lead cannot read the ticket");
    let (code, rule, _) = refusal(&decide(&other_station, &cancel, "station"));
    assert_eq!((code.as_str(), rule.as_deref()), ("FORBIDDEN", Some("ApproverOutsideLevelUnit")));
    // A subsidiary admin is not the station level's approver either.
    let (code, rule, _) = refusal(&decide(&tj01_admin(), &cancel, "station"));
    assert_eq!((code.as_str(), rule.as_deref()), ("FORBIDDEN", Some("NotLevelApprover")));
    assert!(!listed(&other_station).contains(&cancel), "it neither concerns tj01-st02 nor waits for it");
    assert!(listed(&tj01_st01_lead()).contains(&cancel), "it waits for tj01-st01's lead");
    assert_ne!(status(&ticket), "cancelled");
}

#[test]
fn the_requester_never_approves_their_own_request() {
    let ticket = ticket_at_tj01_st01();
    let lead = tj01_st01_lead();
    let delay = request(&lead, &ticket, "delay", "{new_deadline: \"2030-01-01T00:00:00Z\"}");
    let delay = data(&delay)["requestApproval"]["approvalId"].as_str().unwrap().to_owned();
    let (code, rule, _) = refusal(&decide(&lead, &delay, "station"));
    assert_eq!((code.as_str(), rule.as_deref()), ("FORBIDDEN", Some("RequesterMayNotDecide")));
}

#[test]
fn nobody_decides_two_levels_of_one_approval() {
    let ticket = ticket_at_tj01_st01();
    let void = requested(&bearer(), &ticket, "void");
    // One person holding both roles, at the station.
    let both = token("tj01-st01-lead", "station_lead,subsidiary_admin", Some("tj01"), TJ01_ST01);
    data(&decide(&both, &void, "station"));
    let (code, rule, _) = refusal(&decide(&both, &void, "subsidiary"));
    assert_eq!((code.as_str(), rule.as_deref()), ("FORBIDDEN", Some("ApproverDecidedAnotherLevel")));
    assert_ne!(status(&ticket), "voided");
    // The subsidiary's own admin decides the second level; the void then takes effect by itself.
    data(&decide(&tj01_admin(), &void, "subsidiary"));
    let levels = run(&tj01_admin(), "{ approvals(pending: false) { id levels { level role unit decidedBy } } }");
    let approvals = data(&levels)["approvals"].clone();
    let this = approvals.as_array().unwrap().iter().find(|a| a["id"] == void.as_str()).expect("listed");
    let named: Vec<(&str, &str, &str, &str)> = this["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let text = |key: &str| l[key].as_str().unwrap_or_default();
            (text("level"), text("role"), text("unit"), text("decidedBy"))
        })
        .collect();
    assert_eq!(
        named,
        [
            ("station", "station_lead", "tj01-st01", "tj01-st01-lead"),
            ("subsidiary", "subsidiary_admin", "tj01", "tj01-admin")
        ]
    );
    for _ in 0..100 {
        if status(&ticket) == "voided" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the granted void did not take effect: {}", status(&ticket));
}

#[test]
fn asking_for_an_approval_needs_a_role_and_the_ticket_in_scope() {
    let ticket = ticket_at_tj01_st01();
    let auditor = token("hq-auditor", "group_auditor", None, "/hq");
    let (code, _, message) = refusal(&request(&auditor, &ticket, "void", "{}"));
    assert_eq!(code, "FORBIDDEN", "{message}");
    let integration = token("billing", "integration", Some("tj01"), "/hq/north/tj01");
    assert_eq!(refusal(&request(&integration, &ticket, "void", "{}")).0, "FORBIDDEN");
    let other = format!("Bearer {}", server().other_token);
    assert_eq!(refusal(&request(&other, &ticket, "void", "{}")).0, "NOT_FOUND", "tj02's agent");
    assert_eq!(refusal(&request(&tj01_st02_lead(), &ticket, "cancel", "{}")).0, "NOT_FOUND", "another station");
}
