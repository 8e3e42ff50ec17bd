//! The listener over real UDP sockets: HEP3 datagrams of one call come in, its signals come out,
//! and every refused datagram (forged key, oversize, disallowed source, garbage) is counted, and
//! the undecodable ones kept.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hotline_gateway_adapters::dialog::{Party, Signal, SignalKind};
use hotline_gateway_adapters::hep::HepPacket;
use hotline_gateway_adapters::listener::{Inspector, Listener, ListenerConfig, SourceAllowlist, StatsSnapshot};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const KEY: &[u8] = b"capture-secret";

fn sip(lines: &[&str]) -> Bytes {
    Bytes::from(format!("{}\r\n\r\n", lines.join("\r\n")))
}

fn call() -> Vec<Bytes> {
    let common = ["From: <sip:13800138000@10.0.0.1>;tag=c1", "Call-ID: udp-call-1", "X-CID: leg-7"];
    let with = |start: &str, to: &str, cseq: &str, extra: &[&str]| {
        let mut lines = vec![start, "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-1"];
        lines.extend(common);
        lines.extend([to, cseq]);
        lines.extend(extra);
        sip(&lines)
    };
    vec![
        with("INVITE sip:4001@pbx SIP/2.0", "To: <sip:4001@pbx>", "CSeq: 1 INVITE", &[]),
        with("SIP/2.0 180 Ringing", "To: <sip:4001@pbx>;tag=b", "CSeq: 1 INVITE", &["Contact: <sip:4001@10.0.0.5>"]),
        with("SIP/2.0 200 OK", "To: <sip:4001@pbx>;tag=b", "CSeq: 1 INVITE", &["Contact: <sip:4001@10.0.0.5>"]),
        with("BYE sip:4001@10.0.0.5 SIP/2.0", "To: <sip:4001@pbx>;tag=b", "CSeq: 2 BYE", &[]),
    ]
}

fn hep(payload: Bytes, second: i64, key: Option<&[u8]>) -> Vec<u8> {
    hep_at(payload, DateTime::<Utc>::from_timestamp(1_700_000_000 + second, 0).expect("time"), key)
}

fn hep_at(payload: Bytes, captured_at: DateTime<Utc>, key: Option<&[u8]>) -> Vec<u8> {
    hep_from(payload, captured_at, key, 1)
}

/// A HEP3 packet of capture agent `agent`.
fn hep_from(payload: Bytes, captured_at: DateTime<Utc>, key: Option<&[u8]>, agent: u32) -> Vec<u8> {
    let packet = HepPacket {
        src: "10.0.0.1:5060".parse().expect("address"),
        dst: "10.0.0.2:5060".parse().expect("address"),
        captured_at,
        payload,
        correlation_id: None,
        capture_agent: Some(agent),
    };
    packet.encode(key).expect("encodes")
}

async fn wait_for(inspector: &Inspector, done: impl Fn(&StatsSnapshot) -> bool) -> StatsSnapshot {
    for _ in 0..200 {
        let stats = inspector.stats();
        if done(&stats) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    inspector.stats()
}

async fn recv(signals: &mut mpsc::Receiver<Signal>) -> SignalKind {
    recv_signal(signals).await.kind
}

async fn recv_signal(signals: &mut mpsc::Receiver<Signal>) -> Signal {
    tokio::time::timeout(Duration::from_secs(5), signals.recv()).await.expect("a signal in time").expect("channel open")
}

#[tokio::test]
async fn hep3_call_gives_signals_and_refusals_are_counted_and_kept() {
    let config = ListenerConfig {
        hep_bind: Some("127.0.0.1:0".parse().expect("address")),
        sip_bind: Some("127.0.0.1:0".parse().expect("address")),
        hep_auth_key: Some(KEY.to_vec()),
        max_datagram: 2048,
        allowed_sources: SourceAllowlist::Only(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]),
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(config).await.expect("binds");
    let hep_addr = listener.hep_addr().expect("hep socket");
    let sip_addr = listener.sip_addr().expect("sip socket");
    let inspector = listener.inspector();
    let (sender, mut signals) = mpsc::channel(16);
    let running = tokio::spawn(listener.run(sender));

    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent socket");
    let messages = call();
    // Each message twice, as a mirroring proxy sends it.
    for (second, payload) in messages.iter().enumerate() {
        let datagram = hep(payload.clone(), second as i64, Some(KEY));
        agent.send_to(&datagram, hep_addr).await.expect("send");
        agent.send_to(&datagram, hep_addr).await.expect("send");
    }
    // A forged key, an oversize datagram, garbage on both ports, a keep-alive.
    agent.send_to(&hep(messages[0].clone(), 0, Some(b"guess")), hep_addr).await.expect("send");
    agent.send_to(&vec![b'x'; 4096], hep_addr).await.expect("send");
    agent.send_to(b"\x00\x01garbage", hep_addr).await.expect("send");
    agent.send_to(b"NOT SIP AT ALL\r\n\r\n", sip_addr).await.expect("send");
    agent.send_to(b"\r\n\r\n", sip_addr).await.expect("send");
    // 127.0.0.2 is loopback too, but not on the allowlist.
    let stranger = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 2], 0))).await.expect("second loopback address");
    stranger.send_to(&hep(messages[0].clone(), 0, Some(KEY)), hep_addr).await.expect("send");

    assert_eq!(
        recv(&mut signals).await,
        SignalKind::CallOffered {
            call_id: "udp-call-1".into(),
            caller: "13800138000".into(),
            dialled: "4001".into(),
            correlation: Some("leg-7".into()),
        }
    );
    assert_eq!(
        recv(&mut signals).await,
        SignalKind::CallRinging { call_id: "udp-call-1".into(), extension: "4001".into() }
    );
    assert_eq!(
        recv(&mut signals).await,
        SignalKind::CallAnswered { call_id: "udp-call-1".into(), extension: "4001".into() }
    );
    assert_eq!(recv(&mut signals).await, SignalKind::CallEnded { call_id: "udp-call-1".into(), by: Party::Caller });

    let stats = wait_for(&inspector, |s| s.received >= 14).await;
    assert_eq!(stats.received, 14);
    assert_eq!(stats.decoded, 8, "both mirror copies decode");
    assert_eq!(stats.signals, 4, "but give each signal once");
    assert_eq!(stats.rejected_hep["auth_failed"], 1);
    assert_eq!(stats.rejected_hep["bad_magic"], 1);
    assert_eq!(stats.rejected_hep.values().sum::<u64>(), 2);
    assert_eq!(stats.oversize, 1);
    assert_eq!(stats.not_allowed, 1);
    assert_eq!(stats.unparseable_sip, 1);
    assert_eq!(stats.keepalives, 1);
    assert_eq!(stats.rate_limited, 0);

    // The two sockets are read concurrently, so the order of rejects across them is not fixed.
    let rejected = inspector.rejected();
    let reasons: Vec<&str> = rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(rejected.len(), 4, "{reasons:?}");
    for prefix in [
        "hep3: hep3 authentication key is missing or wrong",
        "hep3: datagram does not start with the HEP3 magic",
        "sip: rsip cannot parse the message",
        "source not allowed",
    ] {
        assert!(reasons.iter().any(|r| r.starts_with(prefix)), "{prefix:?} not in {reasons:?}");
    }
    let garbage = rejected.iter().find(|r| r.reason.contains("magic")).expect("garbage kept");
    assert_eq!(garbage.bytes, b"\x00\x01garbage");
    let (agent_address, stranger_address) =
        (agent.local_addr().expect("agent address"), stranger.local_addr().expect("stranger address"));
    for kept in &rejected {
        let expected = if kept.reason == "source not allowed" { stranger_address } else { agent_address };
        assert_eq!(kept.source, expected, "{}", kept.reason);
    }

    // Dropping the receiver stops the listener.
    drop(signals);
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("stops").expect("no panic");
}

#[tokio::test]
async fn the_rate_limit_drops_and_counts_a_flood() {
    let config = ListenerConfig {
        hep_bind: Some("127.0.0.1:0".parse().expect("address")),
        rate_limit: hotline_gateway_adapters::listener::RateLimit { per_second: 1, burst: 3 },
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(config).await.expect("binds");
    let hep_addr = listener.hep_addr().expect("hep socket");
    let inspector = listener.inspector();
    let (sender, _signals) = mpsc::channel(16);
    tokio::spawn(listener.run(sender));
    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent socket");
    for _ in 0..10 {
        agent.send_to(b"\r\n\r\n", hep_addr).await.expect("send");
    }
    let stats = wait_for(&inspector, |s| s.received >= 10).await;
    assert_eq!(stats.received, 10);
    assert_eq!(stats.rate_limited, 7);
    assert_eq!(stats.rejected_hep["too_short"], 3);
}

#[tokio::test]
async fn plain_sip_is_stamped_with_the_receive_time() {
    let config = ListenerConfig {
        hep_bind: None,
        sip_bind: Some("127.0.0.1:0".parse().expect("address")),
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(config).await.expect("binds");
    assert_eq!(listener.hep_addr(), None);
    let sip_addr = listener.sip_addr().expect("sip socket");
    let (sender, mut signals) = mpsc::channel(16);
    tokio::spawn(listener.run(sender));
    let before = Utc::now();
    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent socket");
    // LF-only and compact headers, as some UAs send.
    let invite = "INVITE sip:4001@pbx SIP/2.0\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-9\nf: <sip:13800138000@h>;tag=1\nt: <sip:4001@pbx>\ni: plain-1\nCSeq: 1 INVITE\n\n";
    agent.send_to(invite.as_bytes(), sip_addr).await.expect("send");
    let signal = tokio::time::timeout(Duration::from_secs(5), signals.recv()).await.expect("in time").expect("open");
    assert!(signal.at >= before && signal.at <= Utc::now(), "{} not between {before} and now", signal.at);
    assert_eq!(
        signal.kind,
        SignalKind::CallOffered {
            call_id: "plain-1".into(),
            caller: "13800138000".into(),
            dialled: "4001".into(),
            correlation: None
        }
    );
}

/// The capture agent's clock here is years behind the local one: time-outs must follow the
/// capture clock, not fire at the first tick.
#[tokio::test]
async fn time_outs_follow_the_capture_clock() {
    let config = ListenerConfig {
        hep_bind: Some("127.0.0.1:0".parse().expect("address")),
        tick_interval: Duration::from_millis(20),
        tracker: hotline_gateway_adapters::dialog::TrackerConfig {
            setup_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(config).await.expect("binds");
    let hep_addr = listener.hep_addr().expect("hep socket");
    let (sender, mut signals) = mpsc::channel(16);
    tokio::spawn(listener.run(sender));
    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent socket");
    // Sent now; the offer comes out after the reorder window, the time-out a second after the send.
    let sent = tokio::time::Instant::now();
    agent.send_to(&hep(call()[0].clone(), 0, None), hep_addr).await.expect("send");
    assert!(matches!(recv(&mut signals).await, SignalKind::CallOffered { .. }));
    assert_eq!(recv(&mut signals).await, SignalKind::CallTimedOut { call_id: "udp-call-1".into() });
    assert!(sent.elapsed() >= Duration::from_millis(900), "timed out after {:?}", sent.elapsed());
}

/// Issue 15: an INVITE whose dialled number is no number gives no call; it is counted apart
/// (`refused_numbers`) and kept with its reason, and a well-formed one after it still becomes a call.
#[tokio::test]
async fn an_invite_without_a_number_is_kept_with_its_reason() {
    let config = ListenerConfig {
        hep_bind: None,
        sip_bind: Some("127.0.0.1:0".parse().expect("address")),
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(config).await.expect("binds");
    let sip_addr = listener.sip_addr().expect("sip socket");
    let inspector = listener.inspector();
    let (sender, mut signals) = mpsc::channel(16);
    tokio::spawn(listener.run(sender));
    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent socket");
    let invite = |uri: &str, call_id: &str| {
        format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-{call_id}\r\nFrom: <sip:13800138000@h>;tag=1\r\nTo: <sip:1800@pbx>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n"
        )
    };
    let refused = invite("sip:service@pbx", "no-number");
    agent.send_to(refused.as_bytes(), sip_addr).await.expect("send");
    agent.send_to(invite("tel:1800;phone-context=+86-22", "tel-1").as_bytes(), sip_addr).await.expect("send");
    assert_eq!(
        recv(&mut signals).await,
        SignalKind::CallOffered {
            call_id: "tel-1".into(),
            caller: "13800138000".into(),
            dialled: "1800".into(),
            correlation: None
        }
    );
    let stats = wait_for(&inspector, |s| s.received >= 2).await;
    assert_eq!((stats.refused_numbers, stats.unparseable_sip, stats.decoded), (1, 0, 1), "{stats:?}");
    let rejected = inspector.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].reason, "sip: dialled number (Request-URI user) \"service\" is not a phone number");
    assert_eq!(rejected[0].bytes, refused.as_bytes());
}

/// Issue 15: a proxy's workers can mirror a 200 after the BYE that ends the call. The reorder
/// window puts them back in capture order, so the call is answered when its 200 says, and nothing
/// counts as late.
#[tokio::test]
async fn a_200_arriving_after_its_bye_is_put_back_in_capture_order() {
    let config =
        ListenerConfig { hep_bind: Some("127.0.0.1:0".parse().expect("address")), ..ListenerConfig::default() };
    let listener = Listener::bind(config).await.expect("binds");
    let hep_addr = listener.hep_addr().expect("hep socket");
    let inspector = listener.inspector();
    let (sender, mut signals) = mpsc::channel(16);
    tokio::spawn(listener.run(sender));
    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent socket");
    let messages = call();
    // INVITE, 180, then the BYE (captured at 3 s) before the 200 (captured at 2 s).
    for (message, second) in [(0, 0), (1, 1), (3, 3), (2, 2)] {
        agent.send_to(&hep(messages[message].clone(), second, None), hep_addr).await.expect("send");
    }
    assert!(matches!(recv(&mut signals).await, SignalKind::CallOffered { .. }));
    assert!(matches!(recv(&mut signals).await, SignalKind::CallRinging { .. }));
    let answered = recv_signal(&mut signals).await;
    assert_eq!(answered.kind, SignalKind::CallAnswered { call_id: "udp-call-1".into(), extension: "4001".into() });
    assert_eq!(answered.at.timestamp(), 1_700_000_002, "answered when the 200 was captured, not at the BYE");
    let ended = recv_signal(&mut signals).await;
    assert_eq!(ended.kind, SignalKind::CallEnded { call_id: "udp-call-1".into(), by: Party::Caller });
    assert_eq!(ended.at.timestamp(), 1_700_000_003);
    assert_eq!(inspector.stats().late, 0);
}

/// Issue 15: with no reorder window, the same swap cannot be put right: the caller's BYE, which
/// may end an early dialog, ends the call unanswered (the abandon the window exists to prevent),
/// and the 200 that came too late to be ordered is counted.
#[tokio::test]
async fn a_200_too_late_to_be_ordered_is_counted() {
    let config = ListenerConfig {
        hep_bind: Some("127.0.0.1:0".parse().expect("address")),
        reorder_window: Duration::ZERO,
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(config).await.expect("binds");
    let hep_addr = listener.hep_addr().expect("hep socket");
    let inspector = listener.inspector();
    let (sender, mut signals) = mpsc::channel(16);
    tokio::spawn(listener.run(sender));
    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent socket");
    let messages = call();
    for (message, second) in [(0, 0), (1, 1), (3, 3)] {
        agent.send_to(&hep(messages[message].clone(), second, None), hep_addr).await.expect("send");
    }
    let kinds = [recv(&mut signals).await, recv(&mut signals).await, recv(&mut signals).await];
    assert_eq!(kinds[2], SignalKind::CallEnded { call_id: "udp-call-1".into(), by: Party::Caller });
    agent.send_to(&hep(messages[2].clone(), 2, None), hep_addr).await.expect("send");
    let stats = wait_for(&inspector, |s| s.late >= 1).await;
    assert_eq!((stats.late, stats.signals), (1, 3), "{stats:?}");
}

/// Issue 15: one HEP packet stamped two hours ahead must not time out a ringing call nor make the
/// adapter forget an answered one: it is dropped and counted, and the call goes on.
#[tokio::test]
async fn one_packet_with_a_wrong_clock_changes_no_call() {
    let config = ListenerConfig {
        hep_bind: Some("127.0.0.1:0".parse().expect("address")),
        tick_interval: Duration::from_millis(20),
        tracker: hotline_gateway_adapters::dialog::TrackerConfig {
            setup_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            ..Default::default()
        },
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(config).await.expect("binds");
    let hep_addr = listener.hep_addr().expect("hep socket");
    let inspector = listener.inspector();
    let (sender, mut signals) = mpsc::channel(16);
    tokio::spawn(listener.run(sender));
    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent socket");
    let messages = call();
    let now = Utc::now();
    let second = |s: i64| now + chrono::Duration::milliseconds(s * 100);
    let wrong = now + chrono::Duration::hours(2);
    let other_call = Bytes::from(String::from_utf8_lossy(&messages[0]).replace("udp-call-1", "udp-call-2"));
    agent.send_to(&hep_at(messages[0].clone(), second(0), None), hep_addr).await.expect("send");
    agent.send_to(&hep_at(messages[1].clone(), second(1), None), hep_addr).await.expect("send");
    assert!(matches!(recv(&mut signals).await, SignalKind::CallOffered { .. }));
    assert!(matches!(recv(&mut signals).await, SignalKind::CallRinging { .. }));
    // While it rings: the wrong packet, then a new agent whose very first packet is as wrong (a
    // new agent is believed, but judged alone), then a few ticks.
    agent.send_to(&hep_at(other_call.clone(), wrong, None), hep_addr).await.expect("send");
    let third_call = Bytes::from(String::from_utf8_lossy(&messages[0]).replace("udp-call-1", "udp-call-3"));
    agent.send_to(&hep_from(third_call, wrong, None, 9), hep_addr).await.expect("send");
    assert!(matches!(recv(&mut signals).await, SignalKind::CallOffered { call_id, .. } if call_id == "udp-call-3"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.send_to(&hep_at(messages[2].clone(), second(2), None), hep_addr).await.expect("send");
    assert_eq!(
        recv(&mut signals).await,
        SignalKind::CallAnswered { call_id: "udp-call-1".into(), extension: "4001".into() }
    );
    // While it is answered: the wrong packet again, then the real BYE.
    agent.send_to(&hep_at(other_call, wrong, None), hep_addr).await.expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.send_to(&hep_at(messages[3].clone(), second(3), None), hep_addr).await.expect("send");
    assert_eq!(recv(&mut signals).await, SignalKind::CallEnded { call_id: "udp-call-1".into(), by: Party::Caller });
    let stats = wait_for(&inspector, |s| s.received >= 7).await;
    assert_eq!((stats.implausible_time, stats.signals), (2, 5), "{stats:?}");
}
