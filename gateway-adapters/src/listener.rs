//! Receive-only UDP listeners: one for HEP3 capture packets, one for plain mirrored SIP (whose
//! capture time is the receive time). Every datagram passes, in order, a size cap, a source
//! allowlist and a per-source token bucket, then is decoded; a HEP3 packet whose capture time is
//! implausible for its capture agent's clock is dropped and counted ([`crate::clock`]). What is
//! left is parsed, held in the reorder window ([`crate::reorder`]) and fed to the
//! [`DialogTracker`] in capture order; each resulting [`Signal`] goes to the caller's channel. A
//! periodic tick drives time-outs, each call's on the clock of the agent that captured its latest
//! message (the local clock shifted by that agent's offset).
//!
//! Nothing is ever sent back to a source. Every drop is counted ([`Inspector::stats`]); datagrams that
//! cannot be decoded or parsed are also logged (`tracing::warn!`) and kept, the last
//! `rejected_kept` of them, for inspection through [`Inspector::rejected`]; so are those of
//! sources not allowed (kept at most one a second, not logged). So is an initial INVITE
//! whose dialled number or caller is not a phone number ([`check_call_numbers`]), counted apart
//! (`refused_numbers`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::clock::{AgentClocks, ClockConfig, Verdict};
use crate::dialog::{DialogTracker, Signal, TrackerConfig};
use crate::hep::{HepError, HepPacket};
use crate::reorder::{ReorderBuffer, DEFAULT_MAX_HELD};
use crate::sip::{check_call_numbers, SipMessage, SipParser};

/// Which sources may send to the listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceAllowlist {
    /// Loopback addresses only (the default: the capture agent runs on this host).
    LoopbackOnly,
    /// Exactly these addresses.
    Only(Vec<IpAddr>),
    /// Any source (only behind a firewall that does the filtering).
    Any,
}

impl SourceAllowlist {
    fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match self {
            SourceAllowlist::LoopbackOnly => ip.is_loopback(),
            SourceAllowlist::Only(allowed) => allowed.contains(&ip),
            SourceAllowlist::Any => true,
        }
    }
}

/// A per-source token bucket: `per_second` datagrams on average, bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained datagrams per second per source.
    pub per_second: u32,
    /// Bucket size.
    pub burst: u32,
}

/// Configuration of a [`Listener`].
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Where to receive HEP3 (`None`: no HEP listener). Default `127.0.0.1:9060`.
    pub hep_bind: Option<SocketAddr>,
    /// Where to receive plain mirrored SIP (`None`: no SIP listener, the default).
    pub sip_bind: Option<SocketAddr>,
    /// The HEP3 authentication key every packet must carry, if set.
    pub hep_auth_key: Option<Vec<u8>>,
    /// Larger datagrams are dropped and counted (default 65,536 bytes).
    pub max_datagram: usize,
    /// Who may send (default loopback only).
    pub allowed_sources: SourceAllowlist,
    /// Per-source rate limit (default 2,000/s, burst 4,000).
    pub rate_limit: RateLimit,
    /// Headers correlating the legs of a call across a B2BUA (default `X-CID`).
    pub correlation_headers: Vec<String>,
    /// The dialog tracker's limits.
    pub tracker: TrackerConfig,
    /// How many rejected datagrams to keep for inspection (default 64).
    pub rejected_kept: usize,
    /// How often to drive time-outs (default 1 s).
    pub tick_interval: Duration,
    /// The receive buffer asked for each socket (default [`crate::socket::RECEIVE_BUFFER`], 8 MiB;
    /// the kernel caps it at `net.core.rmem_max`).
    pub receive_buffer: usize,
    /// How long each message is held to be put in capture order with its call's others (default
    /// [`crate::reorder::DEFAULT_WINDOW`], 200 ms; zero: arrival order).
    pub reorder_window: Duration,
    /// How each capture agent's clock is judged.
    pub clock: ClockConfig,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            hep_bind: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9060)),
            sip_bind: None,
            hep_auth_key: None,
            max_datagram: 64 * 1024,
            allowed_sources: SourceAllowlist::LoopbackOnly,
            rate_limit: RateLimit { per_second: 2_000, burst: 4_000 },
            correlation_headers: vec!["X-CID".to_owned()],
            tracker: TrackerConfig::default(),
            rejected_kept: 64,
            tick_interval: Duration::from_secs(1),
            receive_buffer: crate::socket::RECEIVE_BUFFER,
            reorder_window: crate::reorder::DEFAULT_WINDOW,
            clock: ClockConfig::default(),
        }
    }
}

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// A socket could not be bound.
    #[error("cannot bind udp {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket's address could not be read.
    #[error("cannot read the local address of udp {addr}")]
    LocalAddr {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// The listeners' counters (monotonic, updated atomically as datagrams pass); read through
/// [`Inspector::stats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    received: AtomicU64,
    decoded: AtomicU64,
    keepalives: AtomicU64,
    signals: AtomicU64,
    rejected_hep: [AtomicU64; HepError::REASONS.len()],
    unparseable_sip: AtomicU64,
    refused_numbers: AtomicU64,
    rate_limited: AtomicU64,
    oversize: AtomicU64,
    not_allowed: AtomicU64,
    dialogs_refused: AtomicU64,
    implausible_time: AtomicU64,
    late: AtomicU64,
}

/// The listeners' counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Datagrams received, whatever became of them.
    pub received: u64,
    /// SIP messages decoded and given to the tracker.
    pub decoded: u64,
    /// Keep-alives (whitespace-only SIP payloads).
    pub keepalives: u64,
    /// Signals handed to the channel.
    pub signals: u64,
    /// HEP3 datagrams refused, by [`HepError::reason`] (every reason is listed, zero or not).
    pub rejected_hep: BTreeMap<&'static str, u64>,
    /// SIP payloads that could not be parsed.
    pub unparseable_sip: u64,
    /// Initial INVITEs refused because their dialled number or caller is no phone number
    /// ([`check_call_numbers`]).
    pub refused_numbers: u64,
    /// Datagrams dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// Datagrams dropped for exceeding `max_datagram`.
    pub oversize: u64,
    /// Datagrams dropped because their source is not allowed.
    pub not_allowed: u64,
    /// Messages of new calls or registrations the tracker refused because it was full.
    pub dialogs_refused: u64,
    /// HEP3 packets dropped because their capture time was implausible for their agent's clock.
    pub implausible_time: u64,
    /// Messages that arrived after a later-captured message of their call had been applied (beyond
    /// the reorder window); applied all the same, in arrival order.
    pub late: u64,
}

impl Stats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            received: read(&self.received),
            decoded: read(&self.decoded),
            keepalives: read(&self.keepalives),
            signals: read(&self.signals),
            rejected_hep: HepError::REASONS.iter().copied().zip(self.rejected_hep.iter().map(read)).collect(),
            unparseable_sip: read(&self.unparseable_sip),
            refused_numbers: read(&self.refused_numbers),
            rate_limited: read(&self.rate_limited),
            oversize: read(&self.oversize),
            not_allowed: read(&self.not_allowed),
            dialogs_refused: read(&self.dialogs_refused),
            implausible_time: read(&self.implausible_time),
            late: read(&self.late),
        }
    }
}

/// A datagram that could not be decoded or parsed, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedDatagram {
    /// When it was received.
    pub at: DateTime<Utc>,
    /// Who sent it.
    pub source: SocketAddr,
    /// Why it was rejected.
    pub reason: String,
    /// The datagram as received.
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
struct Shared {
    stats: Stats,
    rejected: Mutex<VecDeque<RejectedDatagram>>,
    rejected_kept: usize,
    /// When a datagram of a source not allowed was last kept.
    refused_source_kept: Mutex<Option<Instant>>,
    /// Each bound socket: its feed's name, receive buffer and inode.
    sockets: Vec<(&'static str, usize, Option<u64>)>,
}

impl Shared {
    fn reject(&self, source: SocketAddr, reason: String, bytes: &[u8]) {
        tracing::warn!(%source, %reason, len = bytes.len(), "rejected mirrored datagram");
        self.keep(source, reason, bytes);
    }

    /// Keeps a datagram of a source not allowed, at most one a second (a flood from outside must
    /// flush neither the kept rejects nor the log).
    fn keep_refused_source(&self, source: SocketAddr, bytes: &[u8]) {
        let now = Instant::now();
        {
            let mut last = self.refused_source_kept.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(1)) {
                return;
            }
            *last = Some(now);
        }
        self.keep(source, "source not allowed".to_owned(), bytes);
    }

    /// Keeps a refused datagram for inspection.
    fn keep(&self, source: SocketAddr, reason: String, bytes: &[u8]) {
        if self.rejected_kept == 0 {
            return;
        }
        let mut ring = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        while ring.len() >= self.rejected_kept {
            ring.pop_front();
        }
        ring.push_back(RejectedDatagram { at: Utc::now(), source, reason, bytes: bytes.to_vec() });
    }
}

/// One of the listener's sockets, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketReport {
    /// `hep` or `sip`.
    pub feed: &'static str,
    /// The receive buffer the kernel reports (bytes).
    pub receive_buffer: usize,
    /// Datagrams the kernel dropped on it since it was bound; `None` where that cannot be read
    /// (not Linux).
    pub kernel_drops: Option<u64>,
}

/// A cheap, cloneable view of a running listener's counters and rejected datagrams.
#[derive(Debug, Clone)]
pub struct Inspector {
    shared: Arc<Shared>,
}

impl Inspector {
    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Each bound socket as the kernel sees it: its receive buffer and the datagrams the kernel
    /// dropped on it (a full buffer drops before the listener sees anything to count).
    pub fn sockets(&self) -> Vec<SocketReport> {
        self.shared
            .sockets
            .iter()
            .map(|&(feed, receive_buffer, inode)| SocketReport {
                feed,
                receive_buffer,
                kernel_drops: inode.and_then(crate::socket::kernel_drops),
            })
            .collect()
    }

    /// The last rejected datagrams, oldest first.
    pub fn rejected(&self) -> Vec<RejectedDatagram> {
        self.shared.rejected.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }
}

/// Most sources with their own bucket; past it, idle buckets are dropped first.
const MAX_BUCKETS: usize = 4_096;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug)]
struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        let (rate, burst) = (f64::from(self.limit.per_second), f64::from(self.limit.burst));
        let refill = |bucket: &mut Bucket| {
            let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
            bucket.refilled = now;
        };
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= MAX_BUCKETS {
            self.buckets.retain(|_, bucket| {
                refill(bucket);
                bucket.tokens < burst
            });
            if self.buckets.len() >= MAX_BUCKETS {
                return false;
            }
        }
        let bucket = self.buckets.entry(ip).or_insert(Bucket { tokens: burst, refilled: now });
        refill(bucket);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Which listener a datagram came in on.
#[derive(Debug, Clone, Copy)]
enum Feed {
    Hep,
    Sip,
}

/// The bound HEP3 and SIP sockets; [`Listener::run`] consumes them.
#[derive(Debug)]
pub struct Listener {
    config: ListenerConfig,
    hep: Option<(UdpSocket, SocketAddr)>,
    sip: Option<(UdpSocket, SocketAddr)>,
    shared: Arc<Shared>,
}

/// A bound socket, its address, and the receive buffer and inode to report it by.
type Bound = (UdpSocket, SocketAddr, usize, Option<u64>);

fn bind(feed: &str, addr: Option<SocketAddr>, receive_buffer: usize) -> Result<Option<Bound>, ListenerError> {
    let Some(addr) = addr else { return Ok(None) };
    let bind_error = |source| ListenerError::Bind { addr, source };
    let (socket, granted) = crate::socket::bind_udp(addr, receive_buffer).map_err(bind_error)?;
    let inode = crate::socket::inode(&socket);
    let socket = UdpSocket::from_std(socket).map_err(bind_error)?;
    let local = socket.local_addr().map_err(|source| ListenerError::LocalAddr { addr, source })?;
    // Linux reports twice the size it set, and sets at most net.core.rmem_max.
    if granted < receive_buffer {
        tracing::warn!(
            feed,
            %local,
            asked = receive_buffer,
            granted,
            "the kernel gave the SIP adapter's socket a smaller receive buffer than asked: a burst past it is \
             dropped by the kernel (counted in /metrics as hotline_sip_kernel_drops); raise it with \
             `sysctl -w net.core.rmem_max={receive_buffer}`"
        );
    }
    Ok(Some((socket, local, granted, inode)))
}

async fn receive(socket: &Option<(UdpSocket, SocketAddr)>, buffer: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some((socket, _)) => socket.recv_from(buffer).await,
        None => std::future::pending().await,
    }
}

impl Listener {
    /// Binds the configured sockets.
    pub async fn bind(config: ListenerConfig) -> Result<Listener, ListenerError> {
        let hep = bind("hep", config.hep_bind, config.receive_buffer)?;
        let sip = bind("sip", config.sip_bind, config.receive_buffer)?;
        let sockets = [("hep", &hep), ("sip", &sip)]
            .into_iter()
            .filter_map(|(feed, bound)| bound.as_ref().map(|(_, _, granted, inode)| (feed, *granted, *inode)))
            .collect();
        let shared = Arc::new(Shared {
            stats: Stats::default(),
            rejected: Mutex::new(VecDeque::new()),
            rejected_kept: config.rejected_kept,
            refused_source_kept: Mutex::new(None),
            sockets,
        });
        let unbound = |bound: Option<Bound>| bound.map(|(socket, addr, _, _)| (socket, addr));
        Ok(Listener { config, hep: unbound(hep), sip: unbound(sip), shared })
    }

    /// The HEP3 socket's address (useful when bound to port 0).
    pub fn hep_addr(&self) -> Option<SocketAddr> {
        self.hep.as_ref().map(|(_, addr)| *addr)
    }

    /// The SIP socket's address.
    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.sip.as_ref().map(|(_, addr)| *addr)
    }

    /// A handle on the counters and rejected datagrams, valid while and after the listener runs.
    pub fn inspector(&self) -> Inspector {
        Inspector { shared: Arc::clone(&self.shared) }
    }

    /// Receives until the receiving end of `signals` is dropped. Socket errors are logged and
    /// receiving goes on.
    pub async fn run(self, signals: mpsc::Sender<Signal>) {
        let Listener { config, hep, sip, shared } = self;
        let parser = SipParser::new(config.correlation_headers.clone());
        let mut tracker = DialogTracker::new(config.tracker.clone());
        let mut clocks = AgentClocks::new(config.clock.clone());
        // Held messages are ordered by their capture time on the local clock (capture time less
        // their agent's clock offset), so agents whose clocks differ interleave as they happened.
        let mut held: ReorderBuffer<Captured> = ReorderBuffer::new(config.reorder_window, DEFAULT_MAX_HELD);
        let mut limiter = RateLimiter { limit: config.rate_limit, buckets: HashMap::new() };
        // One byte more than allowed, so an oversize datagram shows as filling the buffer.
        // No UDP datagram is larger than 65,535 bytes, so a larger cap needs no larger buffer.
        let buffer_len = config.max_datagram.min(u16::MAX.into()) + 1;
        let mut hep_buffer = vec![0u8; buffer_len];
        let mut sip_buffer = vec![0u8; buffer_len];
        // tokio refuses a zero period.
        let mut ticker = tokio::time::interval(config.tick_interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stats = &shared.stats;
        // Time-outs are judged on each call's own capture clock: the tracker is told how far the
        // clock of each message's agent runs from the local one, and ticks on the local clock, so
        // an agent whose clock is off times its calls out neither early nor late, and a new agent
        // with a wrong clock touches only its own calls. Plain SIP is stamped with the local clock.
        loop {
            let due = held.next_due();
            let (feed, received) = tokio::select! {
                () = signals.closed() => return,
                _ = ticker.tick() => {
                    let mut produced = observe(&mut tracker, stats, held.release(std::time::Instant::now()));
                    produced.extend(tracker.tick(Utc::now()));
                    if !send(&signals, stats, produced).await {
                        return;
                    }
                    continue;
                }
                () = sleep_until(due) => {
                    let produced = observe(&mut tracker, stats, held.release(std::time::Instant::now()));
                    if !send(&signals, stats, produced).await {
                        return;
                    }
                    continue;
                }
                received = receive(&hep, &mut hep_buffer) => (Feed::Hep, received),
                received = receive(&sip, &mut sip_buffer) => (Feed::Sip, received),
            };
            let (len, source) = match received {
                Ok(received) => received,
                Err(error) => {
                    tracing::warn!(%error, ?feed, "udp receive failed");
                    continue;
                }
            };
            Stats::bump(&stats.received);
            if len > config.max_datagram {
                Stats::bump(&stats.oversize);
                continue;
            }
            if !config.allowed_sources.allows(source.ip()) {
                Stats::bump(&stats.not_allowed);
                let datagram = match feed {
                    Feed::Hep => &hep_buffer[..len],
                    Feed::Sip => &sip_buffer[..len],
                };
                shared.keep_refused_source(source, datagram);
                continue;
            }
            if !limiter.admit(source.ip(), Instant::now()) {
                Stats::bump(&stats.rate_limited);
                continue;
            }
            let datagram = match feed {
                Feed::Hep => &hep_buffer[..len],
                Feed::Sip => &sip_buffer[..len],
            };
            let mut clock_offset = chrono::Duration::zero();
            let (captured_at, payload) = match feed {
                Feed::Hep => match HepPacket::decode(datagram, config.hep_auth_key.as_deref()) {
                    Ok(packet) => {
                        let agent = (source.ip(), packet.capture_agent);
                        match clocks.judge(agent, packet.captured_at, Utc::now()) {
                            Verdict::Plausible(offset) => clock_offset = offset,
                            Verdict::Implausible => {
                                Stats::bump(&stats.implausible_time);
                                tracing::warn!(%source, captured_at = %packet.captured_at, "HEP3 capture time implausible for its agent's clock: ignored");
                                continue;
                            }
                        }
                        (packet.captured_at, packet.payload)
                    }
                    Err(error) => {
                        Stats::bump(&stats.rejected_hep[error.reason_index()]);
                        shared.reject(source, format!("hep3: {error}"), datagram);
                        continue;
                    }
                },
                Feed::Sip => (Utc::now(), bytes::Bytes::copy_from_slice(datagram)),
            };
            let message = match parser.parse(&payload) {
                Ok(Some(message)) => message,
                Ok(None) => {
                    Stats::bump(&stats.keepalives);
                    continue;
                }
                Err(error) => {
                    Stats::bump(&stats.unparseable_sip);
                    shared.reject(source, format!("sip: {error}"), datagram);
                    continue;
                }
            };
            if let Err(error) = check_call_numbers(&message) {
                Stats::bump(&stats.refused_numbers);
                shared.reject(source, format!("sip: {error}"), datagram);
                continue;
            }
            Stats::bump(&stats.decoded);
            let now = std::time::Instant::now();
            let local_time = captured_at - clock_offset;
            let mut ready = held.push(local_time, now, Captured { at: captured_at, clock_offset, message });
            ready.extend(held.release(now));
            let produced = observe(&mut tracker, stats, ready);
            if !send(&signals, stats, produced).await {
                return;
            }
        }
    }
}

/// A message held in the reorder window: its capture time, how far its agent's clock runs from
/// the local one, and the message.
struct Captured {
    at: DateTime<Utc>,
    clock_offset: chrono::Duration,
    message: SipMessage,
}

/// Sleeps until `due`, or for ever when nothing is held.
async fn sleep_until(due: Option<std::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(Instant::from_std(due)).await,
        None => std::future::pending().await,
    }
}

/// Feeds released messages to the tracker in the order given; counts refusals and late messages.
fn observe(tracker: &mut DialogTracker, stats: &Stats, messages: Vec<(DateTime<Utc>, Captured)>) -> Vec<Signal> {
    let mut produced = Vec::new();
    for (_, Captured { at, clock_offset, message }) in messages {
        let (refused_before, late_before) = (tracker.refused(), tracker.late());
        produced.extend(tracker.observe_on_clock(at, clock_offset, &message));
        if tracker.refused() > refused_before {
            Stats::bump(&stats.dialogs_refused);
        }
        if tracker.late() > late_before {
            Stats::bump(&stats.late);
        }
    }
    produced
}

/// Sends the signals; `false` when the receiver is gone.
async fn send(channel: &mpsc::Sender<Signal>, stats: &Stats, signals: Vec<Signal>) -> bool {
    for signal in signals {
        if channel.send(signal).await.is_err() {
            return false;
        }
        Stats::bump(&stats.signals);
    }
    true
}
