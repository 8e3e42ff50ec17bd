//! Every fixture decodes (running the upcasters), folds, and matches its snapshot.

use hotline_domain::ticket::{Ticket, TicketEvent};
use hotline_domain::{Decider, EventCodec};
use hotline_replay_tests::{fixtures_dir, load};

#[test]
fn every_fixture_decodes_folds_and_matches_its_snapshot() {
    let mut fixtures: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty(), "no fixtures found");
    for path in fixtures {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("fixture name").to_owned();
        let events = load(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut tickets = std::collections::BTreeMap::new();
        for event in &events {
            assert_eq!(
                event.stream_id.split_once('-').map(|(c, _)| c),
                Some("ticket"),
                "{name}: only ticket streams yet"
            );
            let decoded = TicketEvent::decode(&event.event_type, event.schema_version, event.payload.clone())
                .unwrap_or_else(|e| {
                    panic!("{name}: {} v{} does not decode: {e}", event.event_type, event.schema_version)
                });
            let state = tickets.remove(&event.stream_id).unwrap_or_default();
            tickets.insert(event.stream_id.clone(), Ticket::evolve(state, &decoded));
        }
        insta::assert_debug_snapshot!(name, tickets);
    }
}
