//! Nobody reads or acts outside their scope, nor learns what lies outside it.

use crate::support::*;

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
