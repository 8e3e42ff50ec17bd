//! Given-when-then tests of the telephony configuration decider, one per rule.

use super::*;
use crate::spec::given;

fn queue(id: &str) -> QueueId {
    QueueId(id.into())
}

fn seat(id: &str) -> SeatId {
    SeatId(id.into())
}

fn ext(id: &str) -> Extension {
    Extension(id.into())
}

fn number(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw).expect("a valid number")
}

fn repair_queue() -> QueueConfig {
    QueueConfig::new(queue("repair"), "报修专线")
}

fn queue_configured() -> TelephonyEvent {
    TelephonyEvent::QueueConfigured(repair_queue())
}

fn routed() -> TelephonyEvent {
    TelephonyEvent::NumberRouted { dialled: "96069".into(), queue: queue("repair") }
}

fn seat_defined(id: &str) -> TelephonyEvent {
    TelephonyEvent::SeatDefined { seat: seat(id), name_zh: format!("坐席{id}") }
}

fn bound(s: &str, e: &str) -> TelephonyEvent {
    TelephonyEvent::PhoneBound { seat: seat(s), extension: ext(e) }
}

fn blacklisted() -> TelephonyEvent {
    TelephonyEvent::NumberBlacklisted { number: "13812345678".into(), reason: "恶意骚扰".into() }
}

/// One event of every variant, for the codec test.
fn one_of_each_event() -> Vec<TelephonyEvent> {
    vec![
        queue_configured(),
        routed(),
        TelephonyEvent::NumberUnrouted { dialled: "96069".into(), queue: queue("repair") },
        seat_defined("A-01"),
        bound("A-01", "8001"),
        TelephonyEvent::PhoneUnbound { seat: seat("A-01"), extension: ext("8001") },
        blacklisted(),
        TelephonyEvent::NumberRemovedFromBlacklist { number: "13812345678".into(), reason: "误判".into() },
    ]
}

#[test]
fn codec_round_trips_every_event() {
    let events = one_of_each_event();
    let names: std::collections::BTreeSet<String> = events.iter().map(|e| e.encode().event_type).collect();
    assert_eq!(names.len(), 8, "one_of_each_event misses a variant");
    for event in events {
        let encoded = event.encode();
        assert_eq!(encoded.schema_version, 1);
        let text = encoded.payload.to_string();
        assert_eq!(TelephonyEvent::decode_text(&encoded.event_type, 1, &text), Ok(event.clone()), "{encoded:?}");
        assert_eq!(TelephonyEvent::decode(&encoded.event_type, 1, encoded.payload.clone()), Ok(event), "{encoded:?}");
    }
}

#[test]
fn configure_queue_accepted_with_default_thresholds() {
    given::<Telephony>(vec![]).when(TelephonyCommand::ConfigureQueue(repair_queue())).then(vec![queue_configured()]);
    assert_eq!(repair_queue().service_level_seconds, 20);
    assert_eq!(repair_queue().short_abandon_seconds, 5);
}

#[test]
fn configure_queue_accepted_again_replaces_thresholds() {
    let faster = QueueConfig { service_level_seconds: 15, ..repair_queue() };
    let events =
        given::<Telephony>(vec![queue_configured()]).when(TelephonyCommand::ConfigureQueue(faster.clone())).events();
    let config = Telephony::fold([queue_configured()].iter().chain(&events));
    assert_eq!(config.queues.get(&queue("repair")), Some(&faster));
}

#[test]
fn configure_queue_rejected_for_bad_id_name_or_threshold() {
    given::<Telephony>(vec![])
        .when(TelephonyCommand::ConfigureQueue(QueueConfig::new(queue("报修"), "报修")))
        .then_err(TelephonyError::InvalidId { kind: "queue", value: "报修".into() });
    given::<Telephony>(vec![])
        .when(TelephonyCommand::ConfigureQueue(QueueConfig::new(queue("repair"), " ")))
        .then_err(TelephonyError::Required("name_zh"));
    given::<Telephony>(vec![])
        .when(TelephonyCommand::ConfigureQueue(QueueConfig { service_level_seconds: 0, ..repair_queue() }))
        .then_err(TelephonyError::InvalidThreshold { name: "service_level_seconds", value: 0, min: 1, max: 3600 });
    given::<Telephony>(vec![])
        .when(TelephonyCommand::ConfigureQueue(QueueConfig { short_abandon_seconds: 601, ..repair_queue() }))
        .then_err(TelephonyError::InvalidThreshold { name: "short_abandon_seconds", value: 601, min: 0, max: 600 });
    given::<Telephony>(vec![])
        .when(TelephonyCommand::ConfigureQueue(QueueConfig { ring_timeout_seconds: 0, ..repair_queue() }))
        .then_err(TelephonyError::InvalidThreshold { name: "ring_timeout_seconds", value: 0, min: 1, max: 600 });
}

#[test]
fn route_number_accepted_and_queue_for_finds_it() {
    given::<Telephony>(vec![queue_configured()])
        .when(TelephonyCommand::RouteNumber { dialled: number("96069"), queue: queue("repair") })
        .then(vec![routed()]);
    let config = Telephony::fold(&[queue_configured(), routed()]);
    assert_eq!(config.queue_for(&number("96069")), Some(&repair_queue()));
    assert_eq!(config.queue_for(&number("96070")), None);
}

#[test]
fn route_number_to_its_current_queue_decides_nothing() {
    given::<Telephony>(vec![queue_configured(), routed()])
        .when(TelephonyCommand::RouteNumber { dialled: number("96069"), queue: queue("repair") })
        .then(vec![]);
}

#[test]
fn configure_queue_unchanged_decides_nothing() {
    given::<Telephony>(vec![queue_configured()]).when(TelephonyCommand::ConfigureQueue(repair_queue())).then(vec![]);
}

#[test]
fn route_number_rejected_for_unknown_queue() {
    given::<Telephony>(vec![])
        .when(TelephonyCommand::RouteNumber { dialled: number("96069"), queue: queue("repair") })
        .then_err(TelephonyError::UnknownQueue("repair".into()));
}

#[test]
fn unroute_number_accepted() {
    let events = given::<Telephony>(vec![queue_configured(), routed()])
        .when(TelephonyCommand::UnrouteNumber { dialled: number("96069") })
        .events();
    assert_eq!(events, vec![TelephonyEvent::NumberUnrouted { dialled: "96069".into(), queue: queue("repair") }]);
    let config = Telephony::fold([queue_configured(), routed()].iter().chain(&events));
    assert_eq!(config.queue_for(&number("96069")), None);
}

#[test]
fn unroute_number_rejected_when_not_routed() {
    given::<Telephony>(vec![queue_configured()])
        .when(TelephonyCommand::UnrouteNumber { dialled: number("96069") })
        .then_err(TelephonyError::NumberNotRouted("96069".into()));
}

#[test]
fn define_seat_accepted() {
    given::<Telephony>(vec![])
        .when(TelephonyCommand::DefineSeat { seat: seat("A-01"), name_zh: "坐席A-01".into() })
        .then(vec![seat_defined("A-01")]);
}

#[test]
fn define_seat_rejected_twice_or_for_bad_id_or_name() {
    given::<Telephony>(vec![seat_defined("A-01")])
        .when(TelephonyCommand::DefineSeat { seat: seat("A-01"), name_zh: "坐席".into() })
        .then_err(TelephonyError::SeatExists("A-01".into()));
    given::<Telephony>(vec![])
        .when(TelephonyCommand::DefineSeat { seat: seat("A 01"), name_zh: "坐席".into() })
        .then_err(TelephonyError::InvalidId { kind: "seat", value: "A 01".into() });
    given::<Telephony>(vec![])
        .when(TelephonyCommand::DefineSeat { seat: seat("A-01"), name_zh: "".into() })
        .then_err(TelephonyError::Required("name_zh"));
}

#[test]
fn bind_phone_accepted_and_seat_for_finds_it() {
    given::<Telephony>(vec![seat_defined("A-01")])
        .when(TelephonyCommand::BindPhone { seat: seat("A-01"), extension: ext("8001") })
        .then(vec![bound("A-01", "8001")]);
    let config = Telephony::fold(&[seat_defined("A-01"), bound("A-01", "8001")]);
    assert_eq!(config.seat_for(&ext("8001")), Some(&seat("A-01")));
    assert_eq!(config.extension_of(&seat("A-01")), Some(&ext("8001")));
    assert_eq!(config.seat_for(&ext("8002")), None);
}

#[test]
fn bind_phone_rejected_when_seat_bound() {
    given::<Telephony>(vec![seat_defined("A-01"), bound("A-01", "8001")])
        .when(TelephonyCommand::BindPhone { seat: seat("A-01"), extension: ext("8002") })
        .then_err(TelephonyError::SeatAlreadyBound { seat: "A-01".into(), extension: "8001".into() });
}

#[test]
fn bind_phone_rejected_when_phone_bound() {
    given::<Telephony>(vec![seat_defined("A-01"), seat_defined("A-02"), bound("A-01", "8001")])
        .when(TelephonyCommand::BindPhone { seat: seat("A-02"), extension: ext("8001") })
        .then_err(TelephonyError::ExtensionAlreadyBound { extension: "8001".into(), seat: "A-01".into() });
}

#[test]
fn bind_phone_rejected_for_unknown_seat_or_bad_extension() {
    given::<Telephony>(vec![])
        .when(TelephonyCommand::BindPhone { seat: seat("A-01"), extension: ext("8001") })
        .then_err(TelephonyError::UnknownSeat("A-01".into()));
    given::<Telephony>(vec![seat_defined("A-01")])
        .when(TelephonyCommand::BindPhone { seat: seat("A-01"), extension: ext("") })
        .then_err(TelephonyError::InvalidId { kind: "extension", value: "".into() });
}

#[test]
fn unbind_phone_accepted_and_frees_both_sides() {
    let history = vec![seat_defined("A-01"), seat_defined("A-02"), bound("A-01", "8001")];
    let events =
        given::<Telephony>(history.clone()).when(TelephonyCommand::UnbindPhone { seat: seat("A-01") }).events();
    assert_eq!(events, vec![TelephonyEvent::PhoneUnbound { seat: seat("A-01"), extension: ext("8001") }]);
    let mut all = history;
    all.extend(events);
    assert_eq!(Telephony::fold(&all).seat_for(&ext("8001")), None);
    given::<Telephony>(all)
        .when(TelephonyCommand::BindPhone { seat: seat("A-02"), extension: ext("8001") })
        .then(vec![bound("A-02", "8001")]);
}

#[test]
fn unbind_phone_rejected_when_unbound_or_unknown() {
    given::<Telephony>(vec![seat_defined("A-01")])
        .when(TelephonyCommand::UnbindPhone { seat: seat("A-01") })
        .then_err(TelephonyError::SeatNotBound("A-01".into()));
    given::<Telephony>(vec![])
        .when(TelephonyCommand::UnbindPhone { seat: seat("A-01") })
        .then_err(TelephonyError::UnknownSeat("A-01".into()));
}

#[test]
fn blacklist_number_accepted_and_is_blacklisted() {
    given::<Telephony>(vec![])
        .when(TelephonyCommand::BlacklistNumber { number: number("13812345678"), reason: "恶意骚扰".into() })
        .then(vec![blacklisted()]);
    let config = Telephony::fold(&[blacklisted()]);
    assert!(config.is_blacklisted(&number("13812345678")));
    assert!(!config.is_blacklisted(&number("13900000000")));
}

#[test]
fn blacklist_number_rejected_twice_or_without_reason() {
    given::<Telephony>(vec![blacklisted()])
        .when(TelephonyCommand::BlacklistNumber { number: number("13812345678"), reason: "再次".into() })
        .then_err(TelephonyError::NumberAlreadyBlacklisted("13812345678".into()));
    given::<Telephony>(vec![])
        .when(TelephonyCommand::BlacklistNumber { number: number("13812345678"), reason: " ".into() })
        .then_err(TelephonyError::Required("reason"));
}

#[test]
fn remove_from_blacklist_accepted() {
    let events = given::<Telephony>(vec![blacklisted()])
        .when(TelephonyCommand::RemoveFromBlacklist { number: number("13812345678"), reason: "误判".into() })
        .events();
    let config = Telephony::fold([blacklisted()].iter().chain(&events));
    assert!(!config.is_blacklisted(&number("13812345678")));
}

#[test]
fn remove_from_blacklist_rejected_when_absent_or_without_reason() {
    given::<Telephony>(vec![])
        .when(TelephonyCommand::RemoveFromBlacklist { number: number("13812345678"), reason: "误判".into() })
        .then_err(TelephonyError::NumberNotBlacklisted("13812345678".into()));
    given::<Telephony>(vec![blacklisted()])
        .when(TelephonyCommand::RemoveFromBlacklist { number: number("13812345678"), reason: "".into() })
        .then_err(TelephonyError::Required("reason"));
}

#[test]
fn route_gives_queue_thresholds_and_blacklist() {
    let config = Telephony::fold(&[
        TelephonyEvent::QueueConfigured(QueueConfig {
            service_level_seconds: 15,
            short_abandon_seconds: 3,
            ..repair_queue()
        }),
        routed(),
        blacklisted(),
    ]);
    assert_eq!(
        config.route(&number("13812345678"), &number("96069")),
        CallRouting {
            queue: Some(queue("repair")),
            service_level_seconds: 15,
            short_abandon_seconds: 3,
            blacklisted: true,
        }
    );
    assert_eq!(
        config.route(&number("13900000000"), &number("12345")),
        CallRouting {
            queue: None,
            service_level_seconds: DEFAULT_SERVICE_LEVEL_SECONDS,
            short_abandon_seconds: DEFAULT_SHORT_ABANDON_SECONDS,
            blacklisted: false,
        }
    );
}
