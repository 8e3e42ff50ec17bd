//! Real capture: the HEP3 datagrams Kamailio 5.6.3 (`shared/rigs/kamailio-hep-proxy.cfg`, ports
//! moved to 15060/15070/15080 and HEP to 19060) mirrored while proxying two calls of SIPp 3.6.1's
//! built-in `uac` scenario to its `uas` (`sipp -m 2 -r 1`). Both the received and the forwarded copy
//! of each message are there. Files are in arrival order.

use std::path::Path;

use hotline_gateway_adapters::dialog::{DialogTracker, Party, SignalKind};
use hotline_gateway_adapters::hep::HepPacket;
use hotline_gateway_adapters::sip::SipParser;

fn datagrams() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kamailio_sipp_two_calls");
    let mut paths: Vec<_> =
        std::fs::read_dir(&dir).expect("fixture directory").map(|entry| entry.expect("entry").path()).collect();
    paths.sort();
    paths.iter().map(|path| std::fs::read(path).expect("fixture")).collect()
}

#[test]
fn kamailio_mirrored_sipp_calls_give_each_signal_once() {
    let datagrams = datagrams();
    assert_eq!(datagrams.len(), 26);
    let parser = SipParser::new(vec!["X-CID".into()]);
    let mut tracker = DialogTracker::default();
    let mut signals = Vec::new();
    for datagram in &datagrams {
        let packet = HepPacket::decode(datagram, None).expect("kamailio's hep3 decodes");
        assert!(packet.src.ip().is_loopback() && packet.dst.ip().is_loopback());
        let message = parser.parse(&packet.payload).expect("kamailio's sip parses").expect("no keep-alives");
        signals.extend(tracker.observe(packet.captured_at, &message));
    }
    let kinds: Vec<SignalKind> = signals.iter().map(|signal| signal.kind.clone()).collect();
    let call = |n: u32| format!("{n}-27062@127.0.0.1");
    let expected: Vec<SignalKind> = [1, 2]
        .into_iter()
        .flat_map(|n| {
            [
                SignalKind::CallOffered {
                    call_id: call(n),
                    caller: "sipp".into(),
                    dialled: "service".into(),
                    correlation: None,
                },
                // SIPp's uas answers with a Contact that has no user part: the To user stands in.
                SignalKind::CallRinging { call_id: call(n), extension: "service".into() },
                SignalKind::CallAnswered { call_id: call(n), extension: "service".into() },
                SignalKind::CallEnded { call_id: call(n), by: Party::Caller },
            ]
        })
        .collect();
    assert_eq!(kinds, expected);
    // Capture times come from Kamailio, in order within each call.
    assert!(signals.windows(2).all(|pair| pair[0].at <= pair[1].at));
}

#[test]
fn kamailio_datagrams_are_refused_when_a_key_is_required() {
    // Kamailio's siptrace sends no authentication chunk.
    for datagram in datagrams() {
        assert!(HepPacket::decode(&datagram, Some(b"key")).is_err());
    }
}
