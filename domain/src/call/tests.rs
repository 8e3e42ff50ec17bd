//! Given-when-then tests of the call decider, one per rule, the codec and a property over any
//! sequence of observations.

use super::*;
use crate::dictionary::label_zh;
use crate::spec::given;
use chrono::{Duration, TimeZone};
use proptest::prelude::*;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// `s` seconds after the offer.
fn at(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap() + Duration::seconds(s)
}

fn tenant() -> TenantId {
    TenantId("tj01".into())
}

fn queue() -> Option<QueueId> {
    Some(QueueId("repair".into()))
}

fn ext(e: &str) -> Extension {
    Extension(e.into())
}

fn seat(s: &str) -> Option<SeatId> {
    Some(SeatId(s.into()))
}

fn agent(a: &str) -> Option<UserId> {
    Some(UserId(a.into()))
}

fn cmd(s: i64, action: CallAction) -> CallCommand {
    CallCommand { at: at(s), action }
}

fn routing(blacklisted: bool) -> CallRouting {
    CallRouting { queue: queue(), service_level_seconds: 20, short_abandon_seconds: 5, blacklisted }
}

fn offer(blacklisted: bool) -> CallAction {
    CallAction::Offer(OfferCall {
        call_id: "a84b4c76e66710@pc33.example.com".into(),
        tenant: tenant(),
        caller: PhoneNumber("13812345678".into()),
        dialled: PhoneNumber("96069".into()),
        correlation: Some("cid-1".into()),
        routing: routing(blacklisted),
    })
}

fn offered_with(blacklisted: bool) -> CallEvent {
    CallEvent::Offered {
        call_id: "a84b4c76e66710@pc33.example.com".into(),
        tenant: tenant(),
        caller: "13812345678".into(),
        dialled: "96069".into(),
        correlation: Some("cid-1".into()),
        queue: queue(),
        service_level_seconds: 20,
        short_abandon_seconds: 5,
        blacklisted,
        at: at(0),
    }
}

fn offered() -> CallEvent {
    offered_with(false)
}

fn queued(s: i64) -> CallEvent {
    CallEvent::Queued { tenant: tenant(), queue: queue(), at: at(s) }
}

fn ring(e: &str) -> CallAction {
    CallAction::Ring { extension: ext(e), seat: seat("A-01"), agent: agent("agent1") }
}

fn ringing(e: &str, s: i64) -> CallEvent {
    CallEvent::Ringing {
        tenant: tenant(),
        queue: queue(),
        extension: ext(e),
        seat: seat("A-01"),
        agent: agent("agent1"),
        at: at(s),
    }
}

fn answer(e: &str) -> CallAction {
    CallAction::Answer { extension: ext(e), seat: seat("A-01"), agent: agent("agent1") }
}

fn answered(e: &str, s: i64, wait: i64, transferred: bool) -> CallEvent {
    CallEvent::Answered {
        tenant: tenant(),
        queue: queue(),
        extension: ext(e),
        seat: seat("A-01"),
        agent: agent("agent1"),
        wait_seconds: wait,
        service_level_seconds: 20,
        within_service_level: wait <= 20,
        transferred,
        at: at(s),
    }
}

fn held(s: i64) -> CallEvent {
    CallEvent::Held { tenant: tenant(), by: Party::Callee, at: at(s) }
}

fn resumed(s: i64, hold: i64) -> CallEvent {
    CallEvent::Resumed { tenant: tenant(), by: Party::Callee, hold_seconds: hold, at: at(s) }
}

fn transferred(s: i64) -> CallEvent {
    CallEvent::Transferred {
        tenant: tenant(),
        queue: queue(),
        from_extension: Some(ext("8001")),
        from_seat: seat("A-01"),
        from_agent: agent("agent1"),
        target: "8002".into(),
        at: at(s),
    }
}

fn ended(s: i64, talk: i64, hold: i64) -> CallEvent {
    CallEvent::Ended {
        tenant: tenant(),
        queue: queue(),
        extension: Some(ext("8001")),
        seat: seat("A-01"),
        agent: agent("agent1"),
        by: Party::Caller,
        answered_at: at(10),
        wait_seconds: 10,
        talk_seconds: talk,
        hold_seconds: hold,
        at: at(s),
    }
}

fn abandoned(s: i64, ringing: Option<Extension>) -> CallEvent {
    CallEvent::Abandoned {
        tenant: tenant(),
        queue: queue(),
        ringing,
        wait_seconds: s,
        short_abandon_seconds: 5,
        short: s < 5,
        at: at(s),
    }
}

fn rejected(s: i64, status: u16, blacklisted: bool) -> CallEvent {
    CallEvent::Rejected { tenant: tenant(), queue: queue(), status, blacklisted, wait_seconds: s, at: at(s) }
}

fn timed_out(s: i64) -> CallEvent {
    CallEvent::TimedOut { tenant: tenant(), queue: queue(), wait_seconds: s, at: at(s) }
}

fn end_unobserved(last_seen: i64, talk: i64, hold: i64, s: i64) -> CallEvent {
    CallEvent::EndUnobserved {
        tenant: tenant(),
        queue: queue(),
        extension: Some(ext("8001")),
        seat: seat("A-01"),
        agent: agent("agent1"),
        answered_at: at(10),
        wait_seconds: 10,
        talk_seconds: talk,
        hold_seconds: hold,
        last_seen: at(last_seen),
        at: at(s),
    }
}

fn completed_elsewhere(s: i64, ringing: Option<Extension>) -> CallEvent {
    CallEvent::CompletedElsewhere { tenant: tenant(), queue: queue(), ringing, wait_seconds: s, at: at(s) }
}

fn voicemail(s: i64) -> CallEvent {
    CallEvent::VoicemailLeft {
        tenant: tenant(),
        queue: queue(),
        caller: "13812345678".into(),
        dialled: "96069".into(),
        recording: "vm/1.wav".into(),
        wait_seconds: s,
        at: at(s),
    }
}

fn recording(s: i64) -> CallEvent {
    CallEvent::RecordingAvailable { tenant: tenant(), uri: "rec/1.wav".into(), at: at(s) }
}

fn survey(s: i64, satisfied: bool, score: Option<u8>) -> CallEvent {
    CallEvent::SurveyAnswered {
        tenant: tenant(),
        queue: queue(),
        seat: seat("A-01"),
        agent: agent("agent1"),
        satisfied,
        score,
        at: at(s),
    }
}

fn up_to_ringing() -> Vec<CallEvent> {
    vec![offered(), queued(1), ringing("8001", 4)]
}

fn up_to_talking() -> Vec<CallEvent> {
    let mut events = up_to_ringing();
    events.push(answered("8001", 10, 10, false));
    events
}

fn up_to_ended() -> Vec<CallEvent> {
    let mut events = up_to_talking();
    events.push(ended(70, 60, 0));
    events
}

fn with(mut history: Vec<CallEvent>, more: impl IntoIterator<Item = CallEvent>) -> Vec<CallEvent> {
    history.extend(more);
    history
}

// ---------------------------------------------------------------------------------------------
// Offer
// ---------------------------------------------------------------------------------------------

#[test]
fn offer_accepted() {
    given::<Call>(vec![]).when(cmd(0, offer(false))).then(vec![offered()]);
}

#[test]
fn offer_rejects_a_blacklisted_caller() {
    given::<Call>(vec![])
        .when(cmd(0, offer(true)))
        .then(vec![offered_with(true), rejected(0, BLACKLIST_REJECT_STATUS, true)]);
}

#[test]
fn offer_again_decides_nothing() {
    given::<Call>(vec![offered()]).when(cmd(1, offer(false))).then(vec![]);
    given::<Call>(up_to_ended()).when(cmd(90, offer(false))).then(vec![]);
}

#[test]
fn offer_rejected_without_call_id() {
    let CallAction::Offer(mut new) = offer(false) else { unreachable!("an offer") };
    new.call_id = " ".into();
    given::<Call>(vec![]).when(cmd(0, CallAction::Offer(new))).then_err(CallError::Required("call_id"));
}

#[test]
fn every_command_but_offer_rejected_for_a_call_never_offered() {
    for action in every_action_but_offer() {
        given::<Call>(vec![]).when(cmd(5, action)).then_err(CallError::CallNotOffered);
    }
}

#[test]
fn call_key_is_the_same_for_every_leg_and_differs_by_tenant() {
    let a = CallKey::of(&tenant(), "leg-a", Some("cid-1"));
    assert_eq!(a, CallKey::of(&tenant(), "leg-b", Some("cid-1")));
    assert_ne!(a, CallKey::of(&TenantId("tj02".into()), "leg-a", Some("cid-1")));
    assert_eq!(CallKey::of(&tenant(), "leg-a", None), CallKey::of(&tenant(), "leg-a", None));
    assert_ne!(CallKey::of(&tenant(), "leg-a", None), CallKey::of(&tenant(), "leg-b", None));
}

// ---------------------------------------------------------------------------------------------
// Queue and ring
// ---------------------------------------------------------------------------------------------

#[test]
fn queue_accepted_and_again_decides_nothing() {
    given::<Call>(vec![offered()]).when(cmd(1, CallAction::Queue)).then(vec![queued(1)]);
    given::<Call>(vec![offered(), queued(1)]).when(cmd(2, CallAction::Queue)).then(vec![]);
}

#[test]
fn queue_accepted_when_a_seat_rang_unanswered() {
    let events = given::<Call>(up_to_ringing()).when(cmd(34, CallAction::Queue)).events();
    assert_eq!(events, vec![queued(34)]);
    let state = Call::fold(with(up_to_ringing(), events).iter());
    assert_eq!((state.status, state.ringing), (Some(CallStatus::Queued), None));
}

#[test]
fn queue_rejected_when_answered() {
    given::<Call>(up_to_talking()).when(cmd(20, CallAction::Queue)).then_err(CallError::CallAlreadyAnswered);
}

#[test]
fn ring_accepted_from_offered_or_queued() {
    given::<Call>(vec![offered()]).when(cmd(4, ring("8001"))).then(vec![ringing("8001", 4)]);
    given::<Call>(vec![offered(), queued(1)]).when(cmd(4, ring("8001"))).then(vec![ringing("8001", 4)]);
}

#[test]
fn ring_at_the_same_extension_decides_nothing() {
    given::<Call>(up_to_ringing()).when(cmd(5, ring("8001"))).then(vec![]);
}

#[test]
fn ring_at_another_extension_accepted() {
    given::<Call>(up_to_ringing()).when(cmd(6, ring("8002"))).then(vec![ringing("8002", 6)]);
}

#[test]
fn ring_rejected_when_answered() {
    given::<Call>(up_to_talking()).when(cmd(20, ring("8002"))).then_err(CallError::CallAlreadyAnswered);
}

// ---------------------------------------------------------------------------------------------
// Answer
// ---------------------------------------------------------------------------------------------

#[test]
fn answer_accepted_within_service_level() {
    given::<Call>(up_to_ringing()).when(cmd(10, answer("8001"))).then(vec![answered("8001", 10, 10, false)]);
}

#[test]
fn answer_accepted_outside_service_level() {
    let events = given::<Call>(up_to_ringing()).when(cmd(21, answer("8001"))).events();
    assert!(matches!(
        &events[..],
        [CallEvent::Answered { wait_seconds: 21, within_service_level: false, transferred: false, .. }]
    ));
    let events = given::<Call>(up_to_ringing()).when(cmd(20, answer("8001"))).events();
    assert!(matches!(&events[..], [CallEvent::Answered { within_service_level: true, .. }]), "T itself counts");
}

#[test]
fn answer_accepted_without_ringing() {
    given::<Call>(vec![offered()]).when(cmd(3, answer("8001"))).then(vec![answered("8001", 3, 3, false)]);
}

#[test]
fn answer_at_the_same_extension_decides_nothing() {
    given::<Call>(up_to_talking()).when(cmd(11, answer("8001"))).then(vec![]);
}

#[test]
fn answer_rejected_at_another_extension() {
    given::<Call>(up_to_talking()).when(cmd(11, answer("8002"))).then_err(CallError::CallAlreadyAnswered);
}

// ---------------------------------------------------------------------------------------------
// Hold and resume
// ---------------------------------------------------------------------------------------------

#[test]
fn hold_accepted_and_again_decides_nothing() {
    given::<Call>(up_to_talking()).when(cmd(20, CallAction::Hold { by: Party::Callee })).then(vec![held(20)]);
    given::<Call>(with(up_to_talking(), [held(20)])).when(cmd(25, CallAction::Hold { by: Party::Callee })).then(vec![]);
}

#[test]
fn hold_rejected_before_answer_during_transfer_or_after_end() {
    given::<Call>(up_to_ringing())
        .when(cmd(5, CallAction::Hold { by: Party::Callee }))
        .then_err(CallError::CallNotAnswered);
    given::<Call>(with(up_to_talking(), [transferred(30)]))
        .when(cmd(31, CallAction::Hold { by: Party::Callee }))
        .then_err(CallError::TransferInProgress);
    given::<Call>(up_to_ended())
        .when(cmd(80, CallAction::Hold { by: Party::Callee }))
        .then_err(CallError::CallAlreadyFinished { status: "ended" });
}

#[test]
fn resume_accepted_with_this_hold_duration() {
    given::<Call>(with(up_to_talking(), [held(20)]))
        .when(cmd(35, CallAction::Resume { by: Party::Callee }))
        .then(vec![resumed(35, 15)]);
}

#[test]
fn resume_rejected_when_not_on_hold_or_not_answered() {
    given::<Call>(up_to_talking())
        .when(cmd(20, CallAction::Resume { by: Party::Callee }))
        .then_err(CallError::CallNotOnHold);
    given::<Call>(up_to_ringing())
        .when(cmd(5, CallAction::Resume { by: Party::Callee }))
        .then_err(CallError::CallNotAnswered);
}

// ---------------------------------------------------------------------------------------------
// Transfer
// ---------------------------------------------------------------------------------------------

#[test]
fn transfer_accepted_and_target_answer_is_marked_transferred() {
    given::<Call>(up_to_talking())
        .when(cmd(30, CallAction::Transfer { target: "8002".into() }))
        .then(vec![transferred(30)]);
    let history = with(up_to_talking(), [transferred(30)]);
    given::<Call>(history.clone()).when(cmd(32, ring("8002"))).then(vec![ringing("8002", 32)]);
    let history = with(history, [ringing("8002", 32)]);
    assert_eq!(Call::fold(history.iter()).status, Some(CallStatus::Transferring));
    given::<Call>(history).when(cmd(36, answer("8002"))).then(vec![answered("8002", 36, 6, true)]);
}

#[test]
fn transfer_target_answer_ends_a_pending_hold_first() {
    given::<Call>(with(up_to_talking(), [held(20), transferred(30)]))
        .when(cmd(40, answer("8002")))
        .then(vec![resumed(40, 20), answered("8002", 40, 10, true)]);
}

#[test]
fn transfer_rejected_twice_before_answer_or_without_target() {
    given::<Call>(with(up_to_talking(), [transferred(30)]))
        .when(cmd(31, CallAction::Transfer { target: "8003".into() }))
        .then_err(CallError::TransferInProgress);
    given::<Call>(up_to_ringing())
        .when(cmd(5, CallAction::Transfer { target: "8003".into() }))
        .then_err(CallError::CallNotAnswered);
    given::<Call>(up_to_talking())
        .when(cmd(31, CallAction::Transfer { target: "".into() }))
        .then_err(CallError::Required("target"));
}

#[test]
fn end_after_transfer_keeps_the_first_answer_and_names_the_last_agent() {
    let history = with(up_to_talking(), [transferred(30), answered("8002", 36, 6, true)]);
    let events = given::<Call>(history).when(cmd(70, CallAction::End { by: Party::Callee })).events();
    let [CallEvent::Ended { answered_at, wait_seconds, talk_seconds, extension, .. }] = &events[..] else {
        panic!("expected one CallEnded, got {events:?}")
    };
    assert_eq!((*answered_at, *wait_seconds, *talk_seconds), (at(10), 10, 60));
    assert_eq!(extension, &Some(ext("8002")));
}

// ---------------------------------------------------------------------------------------------
// End
// ---------------------------------------------------------------------------------------------

#[test]
fn end_accepted_with_talk_time() {
    given::<Call>(up_to_talking()).when(cmd(70, CallAction::End { by: Party::Caller })).then(vec![ended(70, 60, 0)]);
}

#[test]
fn end_accepted_with_hold_accumulated_over_holds() {
    let history = with(up_to_talking(), [held(20), resumed(30, 10), held(40), resumed(45, 5)]);
    given::<Call>(history).when(cmd(70, CallAction::End { by: Party::Caller })).then(vec![ended(70, 45, 15)]);
}

#[test]
fn end_while_on_hold_counts_the_hold_up_to_the_end() {
    let history = with(up_to_talking(), [held(20), resumed(30, 10), held(60)]);
    given::<Call>(history).when(cmd(70, CallAction::End { by: Party::Caller })).then(vec![ended(70, 40, 20)]);
}

#[test]
fn end_by_caller_before_answer_is_an_abandon() {
    given::<Call>(up_to_ringing())
        .when(cmd(8, CallAction::End { by: Party::Caller }))
        .then(vec![abandoned(8, Some(ext("8001")))]);
}

#[test]
fn end_by_callee_rejected_before_answer() {
    given::<Call>(up_to_ringing())
        .when(cmd(8, CallAction::End { by: Party::Callee }))
        .then_err(CallError::CallNotAnswered);
}

#[test]
fn end_rejected_when_ended() {
    given::<Call>(up_to_ended())
        .when(cmd(71, CallAction::End { by: Party::Caller }))
        .then_err(CallError::CallAlreadyFinished { status: "ended" });
}

#[test]
fn end_never_counts_negative_time_from_out_of_order_capture() {
    // The BYE was captured with a time before the 200 OK's.
    let events = given::<Call>(up_to_talking()).when(cmd(8, CallAction::End { by: Party::Caller })).events();
    assert!(matches!(&events[..], [CallEvent::Ended { talk_seconds: 0, hold_seconds: 0, .. }]), "{events:?}");
}

// ---------------------------------------------------------------------------------------------
// Abandon, reject, time out
// ---------------------------------------------------------------------------------------------

#[test]
fn abandon_accepted_short_and_long() {
    given::<Call>(vec![offered(), queued(1)]).when(cmd(3, CallAction::Abandon)).then(vec![abandoned(3, None)]);
    given::<Call>(up_to_ringing()).when(cmd(40, CallAction::Abandon)).then(vec![abandoned(40, Some(ext("8001")))]);
    let events = given::<Call>(vec![offered()]).when(cmd(5, CallAction::Abandon)).events();
    assert!(matches!(&events[..], [CallEvent::Abandoned { short: false, .. }]), "the threshold itself is not short");
}

#[test]
fn abandon_rejected_when_answered_or_finished() {
    given::<Call>(up_to_talking()).when(cmd(20, CallAction::Abandon)).then_err(CallError::CallAlreadyAnswered);
    given::<Call>(with(vec![offered()], [abandoned(3, None)]))
        .when(cmd(4, CallAction::Abandon))
        .then_err(CallError::CallAlreadyFinished { status: "abandoned" });
}

#[test]
fn reject_accepted() {
    given::<Call>(up_to_ringing()).when(cmd(6, CallAction::Reject { status: 486 })).then(vec![rejected(6, 486, false)]);
}

#[test]
fn reject_rejected_for_non_failure_status_or_answered_call() {
    given::<Call>(up_to_ringing())
        .when(cmd(6, CallAction::Reject { status: 200 }))
        .then_err(CallError::InvalidSipStatus(200));
    given::<Call>(up_to_talking())
        .when(cmd(16, CallAction::Reject { status: 486 }))
        .then_err(CallError::CallAlreadyAnswered);
    given::<Call>(vec![offered_with(true), rejected(0, BLACKLIST_REJECT_STATUS, true)])
        .when(cmd(1, CallAction::Reject { status: 603 }))
        .then_err(CallError::CallAlreadyFinished { status: "rejected" });
}

#[test]
fn time_out_accepted() {
    given::<Call>(vec![offered(), queued(1)]).when(cmd(120, CallAction::TimeOut)).then(vec![timed_out(120)]);
}

#[test]
fn time_out_rejected_when_answered_or_finished() {
    given::<Call>(up_to_talking()).when(cmd(120, CallAction::TimeOut)).then_err(CallError::CallAlreadyAnswered);
    given::<Call>(with(vec![offered()], [timed_out(120)]))
        .when(cmd(121, CallAction::TimeOut))
        .then_err(CallError::CallAlreadyFinished { status: "timed_out" });
}

#[test]
fn completed_elsewhere_ends_a_waiting_call_and_is_no_abandon() {
    given::<Call>(up_to_ringing())
        .when(cmd(9, CallAction::CompleteElsewhere))
        .then(vec![completed_elsewhere(9, Some(ext("8001")))]);
    given::<Call>(vec![offered()]).when(cmd(2, CallAction::CompleteElsewhere)).then(vec![completed_elsewhere(2, None)]);
}

#[test]
fn completed_elsewhere_on_an_answered_call_decides_nothing_and_a_finished_one_refuses() {
    given::<Call>(up_to_talking()).when(cmd(20, CallAction::CompleteElsewhere)).then(vec![]);
    given::<Call>(with(up_to_ringing(), [completed_elsewhere(9, Some(ext("8001")))]))
        .when(cmd(10, answer("8001")))
        .then_err(CallError::CallAlreadyFinished { status: "completed_elsewhere" });
}

#[test]
fn end_unobserved_records_the_talk_known_until_the_last_message() {
    // Answered at 10, last message at 50, the adapter gives up at 7250.
    given::<Call>(up_to_talking())
        .when(cmd(7250, CallAction::EndUnobserved { last_seen: at(50) }))
        .then(vec![end_unobserved(50, 40, 0, 7250)]);
    // Held from 20 and never resumed: hold counts until the last message.
    given::<Call>(with(up_to_talking(), [held(20)]))
        .when(cmd(7250, CallAction::EndUnobserved { last_seen: at(50) }))
        .then(vec![end_unobserved(50, 10, 30, 7250)]);
    // A last message after the command's own time (a wrong clock) counts only until then.
    given::<Call>(up_to_talking())
        .when(cmd(7250, CallAction::EndUnobserved { last_seen: at(9000) }))
        .then(vec![end_unobserved(7250, 7240, 0, 7250)]);
    // A last message before the answer (out-of-order capture times) counts as no talk.
    given::<Call>(up_to_talking())
        .when(cmd(7250, CallAction::EndUnobserved { last_seen: at(3) }))
        .then(vec![end_unobserved(10, 0, 0, 7250)]);
}

#[test]
fn end_unobserved_needs_an_answered_live_call() {
    given::<Call>(up_to_ringing())
        .when(cmd(7250, CallAction::EndUnobserved { last_seen: at(5) }))
        .then_err(CallError::CallNotAnswered);
    given::<Call>(up_to_ended())
        .when(cmd(7250, CallAction::EndUnobserved { last_seen: at(70) }))
        .then_err(CallError::CallAlreadyFinished { status: "ended" });
    given::<Call>(with(up_to_talking(), [end_unobserved(50, 40, 0, 7250)]))
        .when(cmd(7300, CallAction::End { by: Party::Caller }))
        .then_err(CallError::CallAlreadyFinished { status: "end_unobserved" });
}

// ---------------------------------------------------------------------------------------------
// Voicemail, recordings, surveys
// ---------------------------------------------------------------------------------------------

fn leave_voicemail() -> CallAction {
    CallAction::LeaveVoicemail { recording: "vm/1.wav".into() }
}

#[test]
fn leave_voicemail_accepted_while_waiting_or_after_time_out() {
    given::<Call>(vec![offered(), queued(1)]).when(cmd(30, leave_voicemail())).then(vec![voicemail(30)]);
    given::<Call>(vec![offered(), timed_out(120)]).when(cmd(130, leave_voicemail())).then(vec![voicemail(130)]);
}

#[test]
fn leave_voicemail_rejected_when_answered_twice_or_without_recording() {
    given::<Call>(up_to_talking()).when(cmd(30, leave_voicemail())).then_err(CallError::CallAlreadyAnswered);
    given::<Call>(vec![offered(), voicemail(30)])
        .when(cmd(31, leave_voicemail()))
        .then_err(CallError::CallAlreadyFinished { status: "voicemail" });
    given::<Call>(vec![offered()])
        .when(cmd(30, CallAction::LeaveVoicemail { recording: "".into() }))
        .then_err(CallError::Required("recording"));
}

#[test]
fn recording_available_accepted_after_end_and_again_decides_nothing() {
    let announce = || CallAction::RecordingAvailable { uri: "rec/1.wav".into() };
    given::<Call>(up_to_ended()).when(cmd(80, announce())).then(vec![recording(80)]);
    given::<Call>(with(up_to_ended(), [recording(80)])).when(cmd(81, announce())).then(vec![]);
    given::<Call>(up_to_ended())
        .when(cmd(80, CallAction::RecordingAvailable { uri: " ".into() }))
        .then_err(CallError::Required("uri"));
}

#[test]
fn answer_survey_accepted_once_after_end() {
    let survey_action = |score| CallAction::AnswerSurvey { satisfied: true, score };
    given::<Call>(up_to_ended()).when(cmd(80, survey_action(Some(5)))).then(vec![survey(80, true, Some(5))]);
    given::<Call>(with(up_to_ended(), [survey(80, true, Some(5))]))
        .when(cmd(81, survey_action(None)))
        .then_err(CallError::SurveyAlreadyAnswered);
}

#[test]
fn answer_survey_rejected_before_end_or_for_bad_score() {
    given::<Call>(up_to_talking())
        .when(cmd(30, CallAction::AnswerSurvey { satisfied: false, score: None }))
        .then_err(CallError::CallNotEnded);
    given::<Call>(with(vec![offered()], [abandoned(3, None)]))
        .when(cmd(30, CallAction::AnswerSurvey { satisfied: false, score: None }))
        .then_err(CallError::CallNotEnded);
    given::<Call>(up_to_ended())
        .when(cmd(80, CallAction::AnswerSurvey { satisfied: false, score: Some(6) }))
        .then_err(CallError::InvalidSurveyScore(6));
}

#[test]
fn every_observation_rejected_after_end() {
    for action in every_action_but_offer() {
        let refused_differently = matches!(
            action,
            CallAction::RecordingAvailable { .. }
                | CallAction::AnswerSurvey { .. }
                | CallAction::Reject { status: 200 }
        );
        if refused_differently {
            continue;
        }
        given::<Call>(up_to_ended()).when(cmd(90, action)).then_err(CallError::CallAlreadyFinished { status: "ended" });
    }
}

#[test]
fn call_error_names_its_rule() {
    assert_eq!(CallError::CallAlreadyFinished { status: "ended" }.rule(), "CallAlreadyFinished");
    assert_eq!(CallError::InvalidSipStatus(200).rule(), "InvalidSipStatus");
    assert_eq!(CallError::CallNotOffered.rule(), "CallNotOffered");
}

#[test]
fn every_status_and_party_has_a_zh_label() {
    for status in CallStatus::ALL {
        assert!(label_zh("call_status", status.code()).is_some(), "{status:?}");
    }
    for party in [Party::Caller, Party::Callee] {
        assert!(label_zh("party", party.code()).is_some(), "{party:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------------------------

const EVENT_VARIANTS: usize = 16;

fn one_of_each_event() -> Vec<CallEvent> {
    vec![
        offered(),
        queued(1),
        ringing("8001", 4),
        answered("8001", 10, 10, false),
        held(20),
        resumed(30, 10),
        transferred(40),
        ended(70, 60, 0),
        end_unobserved(50, 40, 0, 7250),
        abandoned(3, Some(ext("8001"))),
        completed_elsewhere(9, Some(ext("8001"))),
        rejected(0, 603, true),
        timed_out(120),
        voicemail(130),
        recording(80),
        survey(90, true, Some(4)),
    ]
}

#[test]
fn codec_round_trips_every_event() {
    let events = one_of_each_event();
    let names: BTreeSet<String> = events.iter().map(|e| e.encode().event_type).collect();
    assert_eq!(names.len(), EVENT_VARIANTS, "one_of_each_event misses a variant");
    for event in events {
        let encoded = event.encode();
        assert_eq!(encoded.schema_version, 1);
        let decoded = CallEvent::decode(&encoded.event_type, encoded.schema_version, encoded.payload.clone());
        let text = encoded.payload.to_string();
        assert_eq!(CallEvent::decode_text(&encoded.event_type, encoded.schema_version, &text), decoded, "{encoded:?}");
        assert_eq!(decoded, Ok(event), "{encoded:?}");
    }
}

#[test]
fn codec_uses_the_past_tense_wire_names() {
    let names: BTreeSet<String> = one_of_each_event().iter().map(|e| e.encode().event_type).collect();
    let expected: BTreeSet<String> = [
        "CallOffered",
        "CallQueued",
        "CallRinging",
        "CallAnswered",
        "CallHeld",
        "CallResumed",
        "CallTransferred",
        "CallEnded",
        "CallEndUnobserved",
        "CallAbandoned",
        "CallCompletedElsewhere",
        "CallRejected",
        "CallTimedOut",
        "VoicemailLeft",
        "RecordingAvailable",
        "SurveyAnswered",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(names, expected);
}

#[test]
fn decode_rejected_for_unknown_event_type() {
    assert_eq!(
        CallEvent::decode("CallParked", 1, serde_json::json!({})),
        Err(DecodeError::UnknownEventType { event_type: "CallParked".into(), schema_version: 1 })
    );
}

// ---------------------------------------------------------------------------------------------
// Property: any sequence of observations
// ---------------------------------------------------------------------------------------------

fn every_action_but_offer() -> Vec<CallAction> {
    vec![
        CallAction::Queue,
        ring("8001"),
        answer("8001"),
        CallAction::Hold { by: Party::Callee },
        CallAction::Resume { by: Party::Callee },
        CallAction::Transfer { target: "8002".into() },
        CallAction::End { by: Party::Caller },
        CallAction::Abandon,
        CallAction::CompleteElsewhere,
        CallAction::EndUnobserved { last_seen: at(100) },
        CallAction::Reject { status: 486 },
        CallAction::Reject { status: 200 },
        CallAction::TimeOut,
        leave_voicemail(),
        CallAction::RecordingAvailable { uri: "rec/1.wav".into() },
        CallAction::AnswerSurvey { satisfied: true, score: Some(5) },
    ]
}

fn step_action(kind: u8) -> CallAction {
    match kind {
        0 => offer(false),
        1 => offer(true),
        2 => ring("8002"),
        3 => answer("8002"),
        4 => CallAction::End { by: Party::Callee },
        5 => CallAction::Hold { by: Party::Caller },
        6 => CallAction::Resume { by: Party::Caller },
        7 => CallAction::AnswerSurvey { satisfied: false, score: Some(9) },
        k => {
            let others = every_action_but_offer();
            others[usize::from(k) % others.len()].clone()
        }
    }
}

fn durations(event: &CallEvent) -> Vec<i64> {
    match event {
        CallEvent::Answered { wait_seconds, .. }
        | CallEvent::Abandoned { wait_seconds, .. }
        | CallEvent::Rejected { wait_seconds, .. }
        | CallEvent::TimedOut { wait_seconds, .. }
        | CallEvent::CompletedElsewhere { wait_seconds, .. }
        | CallEvent::VoicemailLeft { wait_seconds, .. } => vec![*wait_seconds],
        CallEvent::Resumed { hold_seconds, .. } => vec![*hold_seconds],
        CallEvent::Ended { wait_seconds, talk_seconds, hold_seconds, .. }
        | CallEvent::EndUnobserved { wait_seconds, talk_seconds, hold_seconds, .. } => {
            vec![*wait_seconds, *talk_seconds, *hold_seconds]
        }
        _ => vec![],
    }
}

proptest! {
    #[test]
    fn any_command_sequence_never_panics_and_durations_are_never_negative(
        steps in prop::collection::vec((0u8..40, -30i64..120), 0..60),
    ) {
        let mut history: Vec<CallEvent> = vec![];
        let mut state = CallState::default();
        let mut clock = 0i64;
        let monotone = steps.iter().all(|(_, delta)| *delta >= 0);
        for (kind, delta) in steps {
            clock += delta;
            let command = cmd(clock, step_action(kind));
            let before = state.status;
            match Call::decide(&state, &command) {
                Ok(events) => {
                    for event in &events {
                        for seconds in durations(event) {
                            prop_assert!(seconds >= 0, "{event:?}");
                        }
                        if let CallEvent::Ended { answered_at, talk_seconds, hold_seconds, at, .. } = event {
                            if monotone {
                                prop_assert_eq!(talk_seconds + hold_seconds, (*at - *answered_at).num_seconds());
                            }
                        }
                        let encoded = event.encode();
                        let decoded = CallEvent::decode(&encoded.event_type, encoded.schema_version, encoded.payload);
                        prop_assert_eq!(decoded.as_ref(), Ok(event));
                        state = Call::evolve(state, event);
                    }
                    history.extend(events);
                    prop_assert_eq!(&Call::fold(history.iter()), &state);
                }
                Err(error) => {
                    prop_assert!(before.is_some() || error == CallError::CallNotOffered, "{error:?}");
                }
            }
            if let Some(status) = state.status.filter(|s| s.is_finished()) {
                for action in [ring("8009"), answer("8009"), CallAction::Abandon, CallAction::TimeOut] {
                    prop_assert_eq!(
                        Call::decide(&state, &cmd(clock, action)),
                        Err(CallError::CallAlreadyFinished { status: status.code() })
                    );
                }
            }
        }
    }
}
