//! Smoke tests of the telephony rig: for every scenario pair, real SIPp peers call through a real
//! Kamailio, and the HEP3 datagrams it mirrors to the test's UDP sink carry the SIP messages of
//! that case. Needs `kamailio` and `sipp` (ops/test.sh installs them); every test uses its own
//! ports, so they run in parallel.

use hotline_gateway_adapters::rig::{
    header, sip_messages, start_line, HepSink, Kamailio, Scenario, Sipp, AGENT, CALLER, DIALLED, TRANSFER_TO,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How long the sink must stay silent after the UAC ends before the capture counts as complete.
const QUIET: Duration = Duration::from_millis(400);
const SETTLE_MAX: Duration = Duration::from_secs(10);

/// Runs one call of the case's UAC/UAS pair through Kamailio; returns the mirrored SIP messages.
fn run_case(case: &str) -> Vec<String> {
    let started = Instant::now();
    let sink = HepSink::start().expect("HEP sink");
    let kamailio = Kamailio::start(sink.port()).expect("start kamailio");
    let (uac, uas) = Scenario::pair(case).expect("rig scenarios");
    let uas = Sipp::uas(&uas, kamailio.uas_port()).expect("start sipp UAS");
    let run = Sipp::uac(&uac, kamailio.addr(), 1, 1).expect("run sipp UAC");
    if !run.status.success() {
        eprintln!("--- UAS\n{}\n--- kamailio\n{}", uas.log(), kamailio.log());
    }
    run.check_success(1).expect("one successful call");
    let datagrams = sink.settle(QUIET, SETTLE_MAX);
    assert!(!datagrams.is_empty(), "no HEP datagram arrived; kamailio log:\n{}", kamailio.log());
    for datagram in &datagrams {
        assert_eq!(&datagram[..4], b"HEP3", "every mirrored datagram is HEP3");
    }
    let messages = sip_messages(&datagrams).expect("SIP in every datagram");
    eprintln!(
        "{case}: {} HEP3 datagrams in {:?} (UAC {:?})\n{}",
        messages.len(),
        started.elapsed(),
        run.elapsed,
        messages.iter().map(|m| format!("  {}", start_line(m))).collect::<Vec<_>>().join("\n")
    );
    let call_ids: HashSet<&str> = messages.iter().filter_map(|m| header(m, "Call-ID")).collect();
    assert_eq!(call_ids.len(), 1, "one call, one Call-ID: {call_ids:?}");
    messages
}

/// Asserts that some mirrored message starts with each of `starts` (a method or a status line).
fn assert_seen(messages: &[String], starts: &[&str]) {
    for wanted in starts {
        assert!(
            messages.iter().any(|m| start_line(m).starts_with(wanted)),
            "no mirrored message starts with {wanted:?}; seen:\n{}",
            messages.iter().map(|m| start_line(m)).collect::<Vec<_>>().join("\n")
        );
    }
}

/// Asserts that no mirrored message starts with any of `starts`.
fn assert_not_seen(messages: &[String], starts: &[&str]) {
    for unwanted in starts {
        assert!(!messages.iter().any(|m| start_line(m).starts_with(unwanted)), "unexpected {unwanted:?} mirrored");
    }
}

/// The messages whose start line starts with `start`.
fn with_start<'a>(messages: &'a [String], start: &str) -> impl Iterator<Item = &'a String> + 'a {
    let start = start.to_owned();
    messages.iter().filter(move |m| start_line(m).starts_with(&start))
}

/// The initial INVITE carries the caller's number and the dialled number; the ringing and answer
/// carry the agent's extension as Contact.
fn assert_parties(messages: &[String]) {
    let invite = with_start(messages, &format!("INVITE sip:{DIALLED}@")).next().expect("initial INVITE mirrored");
    assert!(header(invite, "From").expect("From").contains(&format!("sip:{CALLER}@")), "caller number in From");
    assert!(header(invite, "To").expect("To").contains(&format!("sip:{DIALLED}@")), "dialled number in To");
    for response in with_start(messages, "SIP/2.0 180").chain(with_start(messages, "SIP/2.0 200")) {
        if header(response, "CSeq").is_some_and(|cseq| cseq.ends_with("INVITE")) {
            let contact = header(response, "Contact").expect("Contact in a 180/200 to INVITE");
            assert!(contact.contains(&format!("sip:{AGENT}@")), "agent extension in Contact: {contact}");
        }
    }
}

#[test]
fn answered_call_caller_hangs_up() {
    let messages = run_case("answered");
    assert_seen(&messages, &["INVITE", "SIP/2.0 100", "SIP/2.0 180", "SIP/2.0 200", "ACK", "BYE"]);
    assert_parties(&messages);
    // The BYE comes from the caller: its From is the caller.
    let bye = with_start(&messages, "BYE").next().expect("BYE");
    assert!(header(bye, "From").expect("From").contains(CALLER));
}

#[test]
fn answered_call_callee_hangs_up() {
    let messages = run_case("callee_hangup");
    assert_seen(&messages, &["INVITE", "SIP/2.0 180", "SIP/2.0 200", "ACK", "BYE"]);
    assert_parties(&messages);
    // The BYE comes from the callee: its To is the caller, and it goes to the caller's Contact.
    let bye = with_start(&messages, &format!("BYE sip:{CALLER}@")).next().expect("BYE towards the caller");
    assert!(header(bye, "To").expect("To").contains(CALLER));
    assert!(with_start(&messages, "SIP/2.0 200").any(|m| header(m, "CSeq") == Some("1 BYE")), "200 to the BYE");
}

#[test]
fn abandoned_call_is_cancelled_after_ringing() {
    let messages = run_case("abandoned");
    assert_seen(&messages, &["INVITE", "SIP/2.0 180", "CANCEL", "SIP/2.0 487", "ACK"]);
    assert_parties(&messages);
    assert!(with_start(&messages, "SIP/2.0 200").any(|m| header(m, "CSeq") == Some("1 CANCEL")), "200 to CANCEL");
    assert!(!with_start(&messages, "SIP/2.0 200").any(|m| header(m, "CSeq") == Some("1 INVITE")), "never answered");
    assert_not_seen(&messages, &["BYE"]);
}

#[test]
fn rejected_call_is_busy() {
    let messages = run_case("rejected");
    assert_seen(&messages, &["INVITE", "SIP/2.0 486 Busy Here", "ACK"]);
    assert_not_seen(&messages, &["SIP/2.0 180", "SIP/2.0 200", "BYE"]);
}

#[test]
fn unanswered_call_times_out_with_480() {
    let messages = run_case("no_answer");
    assert_seen(&messages, &["INVITE", "SIP/2.0 180", "SIP/2.0 480", "ACK"]);
    assert_parties(&messages);
    assert_not_seen(&messages, &["SIP/2.0 200", "BYE", "CANCEL"]);
}

#[test]
fn hold_and_resume_by_re_invite() {
    let messages = run_case("hold");
    assert_seen(&messages, &["INVITE", "SIP/2.0 180", "SIP/2.0 200", "ACK", "BYE"]);
    assert_parties(&messages);
    let re_invites: Vec<&String> =
        with_start(&messages, "INVITE").filter(|m| header(m, "To").is_some_and(|to| to.contains("tag="))).collect();
    assert!(re_invites.iter().any(|m| m.contains("a=sendonly")), "hold re-INVITE with a=sendonly");
    assert!(re_invites.iter().any(|m| m.contains("a=sendrecv")), "resume re-INVITE with a=sendrecv");
    assert!(with_start(&messages, "SIP/2.0 200").any(|m| m.contains("a=recvonly")), "hold answered a=recvonly");
}

#[test]
fn blind_transfer_by_the_agent() {
    let messages = run_case("transfer");
    assert_seen(&messages, &["INVITE", "SIP/2.0 200", "REFER", "SIP/2.0 202", "NOTIFY", "BYE"]);
    assert_parties(&messages);
    let refer = with_start(&messages, "REFER").next().expect("REFER");
    assert!(header(refer, "Refer-To").expect("Refer-To").contains(&format!("sip:{TRANSFER_TO}@")));
    assert!(header(refer, "Referred-By").expect("Referred-By").contains(&format!("sip:{AGENT}@")));
    let notify = with_start(&messages, "NOTIFY").next().expect("NOTIFY");
    assert!(notify.contains("SIP/2.0 200 OK"), "NOTIFY carries the sipfrag");
}

#[test]
fn register_then_unregister() {
    let messages = run_case("register");
    let registers: Vec<&String> = with_start(&messages, "REGISTER").collect();
    assert!(registers.iter().any(|m| header(m, "Expires") == Some("3600")), "REGISTER with Expires: 3600");
    assert!(registers.iter().any(|m| header(m, "Expires") == Some("0")), "unREGISTER with Expires: 0");
    assert!(registers.iter().all(|m| header(m, "Contact").is_some_and(|c| c.contains(&format!("sip:{AGENT}@")))));
    for cseq in ["1 REGISTER", "2 REGISTER"] {
        assert!(with_start(&messages, "SIP/2.0 200").any(|m| header(m, "CSeq") == Some(cseq)), "200 to {cseq}");
    }
}

#[test]
fn load_200_answered_calls_at_50_per_second() {
    let started = Instant::now();
    let sink = HepSink::start().expect("HEP sink");
    let kamailio = Kamailio::start(sink.port()).expect("start kamailio");
    let (uac, uas) = Scenario::pair("answered").expect("rig scenarios");
    let _uas = Sipp::uas(&uas, kamailio.uas_port()).expect("start sipp UAS");
    let run = Sipp::uac(&uac, kamailio.addr(), 200, 50).expect("run sipp UAC");
    run.check_success(200).expect("200 successful calls");
    let datagrams = sink.settle(QUIET, SETTLE_MAX);
    let messages = sip_messages(&datagrams).expect("SIP in every datagram");
    let call_ids: HashSet<&str> = messages.iter().filter_map(|m| header(m, "Call-ID")).collect();
    eprintln!(
        "load: {} HEP3 datagrams, {} Call-IDs in {:?} (UAC {:?})",
        messages.len(),
        call_ids.len(),
        started.elapsed(),
        run.elapsed
    );
    assert_eq!(call_ids.len(), 200, "every call mirrored");
    // Each answered call is mirrored as 13 messages (received and sent copies, and the 100).
    assert!(messages.len() >= 200 * 13, "{} datagrams for 200 calls", messages.len());
}
