//! Real-peer telephony test rig: a Kamailio proxy that mirrors every SIP message as HEP3 to a UDP
//! port of the test, between SIPp peers playing the scenarios under `scenarios/`.
//!
//! Std only, so that any crate's tests can include it with
//! `#[path = "../../gateway-adapters/tests/rig/mod.rs"] mod rig;` without new dev-dependencies.
//! Every process runs on 127.0.0.1 on ports the OS hands out, so tests using it can run in parallel.
//! A missing `kamailio` or `sipp` is a panic naming the install command, never a silent skip.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The rig's directory (config template, scenarios), from whichever workspace crate includes it.
pub const RIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../gateway-adapters/tests/rig");
/// The Kamailio config template; `@LISTEN_PORT@`, `@UAS_HOST@`, `@UAS_PORT@`, `@HEP_PORT@` are filled in.
pub const KAMAILIO_TEMPLATE: &str = include_str!("kamailio.cfg.in");

/// The caller's number: From user of every UAC scenario (`-key caller`).
pub const CALLER: &str = "0301234567";
/// The dialled number: Request-URI and To user of every UAC scenario (`-s`).
pub const DIALLED: &str = "1800";
/// The agent's extension: Contact user of the UAS's 180/200, and the phone that registers (`-key agent`).
pub const AGENT: &str = "8001";
/// Where the agent blind-transfers the caller: Refer-To user (`-key transfer_to`).
pub const TRANSFER_TO: &str = "2000";

/// How long a peer may take to bind its port.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a UAC run may take unless told otherwise.
pub const UAC_TIMEOUT: Duration = Duration::from_secs(30);

/// A UDP port on 127.0.0.1 that was free a moment ago and that this process has not handed out before.
pub fn free_udp_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a UDP port on 127.0.0.1");
        let port = socket.local_addr().expect("local address").port();
        if handed_out.lock().expect("port registry").insert(port) {
            return port;
        }
    }
}

/// The path of an installed tool, looked up in `PATH` and the sbin directories (kamailio lives in
/// /usr/sbin, often not in a user's `PATH`); panics with the install command when it is missing.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed; the telephony rig needs it: `apt-get install -y {package}` \
                 (ops/test.sh installs it where it is missing)"
            )
        })
}

/// A scratch directory, removed on drop unless the thread is panicking (then kept, for the logs).
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// A new empty directory under the system temp dir.
    pub fn new(what: &str) -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name =
            format!("hotline-rig-{what}-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        ScratchDir { path }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("rig: keeping {} for its logs", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The inodes of the UDP sockets bound to 127.0.0.1:`port` or to any address on `port`.
fn udp_socket_inodes(port: u16) -> Vec<String> {
    let table = fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let wanted = [format!("0100007F:{port:04X}"), format!("00000000:{port:04X}")];
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.len() > 9 && wanted.iter().any(|w| w == fields[1]))
        .map(|fields| fields[9].to_string())
        .collect()
}

/// Whether process `pid` holds a UDP socket bound to `port` (not merely: someone does).
fn holds_udp_port(pid: u32, port: u16) -> bool {
    let inodes = udp_socket_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(|fd| fs::read_link(fd.ok()?.path()).ok()).any(|target| {
        let target = target.to_string_lossy();
        inodes.iter().any(|inode| target == format!("socket:[{inode}]"))
    })
}

/// Waits until `child` itself has bound `port`. `Err(log)` when it exited because the port was
/// taken meanwhile (the caller may retry on another port); panics, with its log, on any other exit
/// or when it takes too long.
fn wait_bound(child: &mut Child, port: u16, what: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            let log = read_lossy(log);
            if log.contains("Address already in use") {
                return Err(log);
            }
            panic!("{what} exited ({status}) before binding 127.0.0.1:{port}:\n{log}");
        }
        if holds_udp_port(child.id(), port) {
            return Ok(());
        }
        if Instant::now() > deadline {
            panic!("{what} did not bind 127.0.0.1:{port} within {READY_TIMEOUT:?}:\n{}", read_lossy(log));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many ports a peer tries when the one it was given is taken before it binds it.
const BIND_ATTEMPTS: usize = 5;

fn read_lossy(path: &Path) -> String {
    fs::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

/// Sends `signal` to the process group `pgid` (a child started with `process_group(0)`).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits up to `timeout` for `child` to exit.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

/// A running Kamailio, rendered from the rig template: listens on 127.0.0.1:`port()`, relays every
/// request to the UAS on 127.0.0.1:`uas_port()`, mirrors every message as HEP3 to 127.0.0.1:hep_port.
/// Stopped (SIGTERM to its process group, then SIGKILL) on drop.
pub struct Kamailio {
    child: Child,
    port: u16,
    uas_port: u16,
    hep_port: u16,
    dir: ScratchDir,
}

impl Kamailio {
    /// Starts Kamailio on a free port, relaying to a UAS on a free port of its own (start it with
    /// `Sipp::uas(.., kamailio.uas_port())`), mirroring to 127.0.0.1:`hep_port`; returns once the
    /// proxy's UDP port is bound (requests sent from then on are queued and handled).
    pub fn start(hep_port: u16) -> Kamailio {
        Kamailio::start_with_uas(hep_port, free_udp_port())
    }

    /// As [`Kamailio::start`], relaying to a UAS on 127.0.0.1:`uas_port`.
    pub fn start_with_uas(hep_port: u16, uas_port: u16) -> Kamailio {
        let binary = require_tool("kamailio", "kamailio");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = ScratchDir::new("kamailio");
            let port = free_udp_port();
            let config = render_kamailio_config(port, "127.0.0.1", uas_port, hep_port);
            let config_path = dir.path().join("kamailio.cfg");
            fs::write(&config_path, config).expect("write kamailio.cfg");
            let log = dir.path().join("kamailio.log");
            let log_file = fs::File::create(&log).expect("create kamailio.log");
            // -DD: foreground with its worker children; -E: log to stderr; small shared/private
            // memory (defaults 64 MB + 8 MB per process) so that parallel tests fit. Runs as whoever
            // runs the tests (root included): every port is above 1024, so neither -u nor -g is needed.
            let mut command = Command::new(&binary);
            command
                .arg("-f")
                .arg(&config_path)
                .arg("-P")
                .arg(dir.path().join("kamailio.pid"))
                .arg("-w")
                .arg(dir.path())
                .args(["-DD", "-E", "-m", "32", "-M", "8"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log handle"))
                .stderr(log_file)
                .process_group(0);
            let mut child = command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            match wait_bound(&mut child, port, "kamailio", &log) {
                Ok(()) => return Kamailio { child, port, uas_port, hep_port, dir },
                Err(log) if attempt < BIND_ATTEMPTS => eprintln!("rig: kamailio lost port {port}, retrying:\n{log}"),
                Err(log) => panic!("kamailio: port taken {BIND_ATTEMPTS} times in a row:\n{log}"),
            }
        }
    }

    /// The proxy's SIP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy's SIP address: where UACs send.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The port on 127.0.0.1 where the proxy relays requests: the UAS's.
    pub fn uas_port(&self) -> u16 {
        self.uas_port
    }

    /// Where the proxy mirrors HEP3.
    pub fn hep_port(&self) -> u16 {
        self.hep_port
    }

    /// What Kamailio logged so far.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("kamailio.log"))
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let pgid = self.child.id();
        signal_group(pgid, "-TERM");
        if wait_timeout(&mut self.child, Duration::from_secs(3)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Workers outliving a killed main process share its group.
        signal_group(pgid, "-KILL");
    }
}

/// The rig's Kamailio config for these ports.
pub fn render_kamailio_config(listen_port: u16, uas_host: &str, uas_port: u16, hep_port: u16) -> String {
    KAMAILIO_TEMPLATE
        .replace("@LISTEN_PORT@", &listen_port.to_string())
        .replace("@UAS_HOST@", uas_host)
        .replace("@UAS_PORT@", &uas_port.to_string())
        .replace("@HEP_PORT@", &hep_port.to_string())
}

/// A SIPp scenario: built into sipp (`-sn`) or a file (`-sf`).
#[derive(Clone, Debug)]
pub enum Scenario {
    /// `sipp -sn NAME`, e.g. "uac", "uas".
    Builtin(&'static str),
    /// `sipp -sf PATH`.
    File(PathBuf),
}

impl Scenario {
    /// A scenario file of the rig, e.g. "answered_uac.xml".
    pub fn rig(file: &str) -> Scenario {
        let path = Path::new(RIG_DIR).join("scenarios").join(file);
        assert!(path.is_file(), "no rig scenario {}", path.display());
        Scenario::File(path)
    }

    /// The rig's pair for a case, `(UAC, UAS)`: `{case}_uac.xml` and `{case}_uas.xml`.
    pub fn pair(case: &str) -> (Scenario, Scenario) {
        (Scenario::rig(&format!("{case}_uac.xml")), Scenario::rig(&format!("{case}_uas.xml")))
    }

    fn args(&self) -> Vec<OsString> {
        match self {
            Scenario::Builtin(name) => vec!["-sn".into(), (*name).into()],
            Scenario::File(path) => vec!["-sf".into(), path.into()],
        }
    }
}

/// Statistics of a finished UAC run, from its `-trace_stat` file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SippStats {
    /// Calls started (`TotalCallCreated`).
    pub created: u64,
    /// Calls that ran the scenario to its end (`SuccessfulCall(C)`).
    pub successful: u64,
    /// Calls that failed (`FailedCall(C)`).
    pub failed: u64,
}

/// A finished UAC run.
#[derive(Debug)]
pub struct SippRun {
    /// SIPp's exit status: 0 when every call succeeded, 1 when some failed.
    pub status: ExitStatus,
    /// Its final statistics.
    pub stats: SippStats,
    /// How long it ran.
    pub elapsed: Duration,
    /// What it printed (its final screen).
    pub output: String,
    /// Its `-trace_err` log: unexpected messages, timeouts.
    pub errors: String,
}

impl SippRun {
    /// Panics, with SIPp's output and error log, unless it exited 0 with `calls` successful calls.
    pub fn assert_success(&self, calls: u64) {
        assert!(
            self.status.success() && self.stats.successful == calls && self.stats.failed == 0,
            "sipp UAC: {} with {:?}, wanted {calls} successful calls\n--- errors\n{}\n--- output\n{}",
            self.status,
            self.stats,
            self.errors,
            self.output
        );
    }
}

/// A SIPp UAS running a scenario on 127.0.0.1:`port()` for as many calls as come; killed on drop.
pub struct SippUas {
    child: Child,
    port: u16,
    dir: ScratchDir,
}

impl SippUas {
    /// Its SIP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it printed and its `-trace_err` log so far.
    pub fn log(&self) -> String {
        format!(
            "{}\n{}",
            read_lossy(&self.dir.path().join("errors.log")),
            read_lossy(&self.dir.path().join("sipp.log"))
        )
    }
}

impl Drop for SippUas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs SIPp peers. Every run gets the rig's numbers: `-s` [`DIALLED`], `-key caller` [`CALLER`],
/// `-key agent` [`AGENT`], `-key transfer_to` [`TRANSFER_TO`].
pub struct Sipp;

impl Sipp {
    /// Starts a UAS with `scenario` on 127.0.0.1:`port` (usually `kamailio.uas_port()`); returns once
    /// its port is bound.
    pub fn uas(scenario: &Scenario, port: u16) -> SippUas {
        Sipp::uas_with(scenario, port, &[])
    }

    /// As [`Sipp::uas`], with extra sipp arguments.
    pub fn uas_with(scenario: &Scenario, port: u16, extra: &[&str]) -> SippUas {
        let dir = ScratchDir::new("sipp-uas");
        let log = dir.path().join("sipp.log");
        let mut command = sipp_command(scenario, port, &dir, &log);
        command.args(extra);
        let mut child = command.spawn().expect("start sipp UAS");
        if let Err(log) = wait_bound(&mut child, port, "sipp UAS", &log) {
            panic!("sipp UAS: 127.0.0.1:{port} is taken:\n{log}");
        }
        SippUas { child, port, dir }
    }

    /// Runs a UAC with `scenario` against `target` (the proxy) from a free port: `calls` calls
    /// (`-m`) at `rate` calls per second (`-r`), in the foreground, to completion.
    pub fn uac(scenario: &Scenario, target: SocketAddr, calls: u32, rate: u32) -> SippRun {
        Sipp::uac_with(scenario, target, calls, rate, &[], UAC_TIMEOUT)
    }

    /// As [`Sipp::uac`], with extra sipp arguments, killed (and a panic) past `timeout`.
    pub fn uac_with(
        scenario: &Scenario,
        target: SocketAddr,
        calls: u32,
        rate: u32,
        extra: &[&str],
        timeout: Duration,
    ) -> SippRun {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = ScratchDir::new("sipp-uac");
            let log = dir.path().join("sipp.log");
            let stats_path = dir.path().join("stats.csv");
            let port = free_udp_port();
            let mut command = sipp_command(scenario, port, &dir, &log);
            command
                .args(["-m", &calls.to_string(), "-r", &rate.to_string(), "-trace_stat", "-fd", "1", "-stf"])
                .arg(&stats_path)
                .args(extra)
                .arg(target.to_string());
            let started = Instant::now();
            let mut child = command.spawn().expect("start sipp UAC");
            let Some(status) = wait_timeout(&mut child, timeout) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "sipp UAC ran past {timeout:?}\n--- errors\n{}\n--- output\n{}",
                    read_lossy(&dir.path().join("errors.log")),
                    read_lossy(&log)
                );
            };
            let output = read_lossy(&log);
            // Exit 254: it could not bind its port, which someone took since it was found free.
            if status.code() == Some(254) && output.contains("Address already in use") && attempt < BIND_ATTEMPTS {
                eprintln!("rig: sipp UAC lost port {port}, retrying");
                continue;
            }
            return SippRun {
                status,
                stats: parse_stats(&read_lossy(&stats_path)),
                elapsed: started.elapsed(),
                output,
                errors: read_lossy(&dir.path().join("errors.log")),
            };
        }
    }
}

fn sipp_command(scenario: &Scenario, port: u16, dir: &ScratchDir, log: &Path) -> Command {
    let binary = require_tool("sipp", "sip-tester");
    let log_file = fs::File::create(log).expect("create sipp log");
    let mut command = Command::new(binary);
    command
        .args(scenario.args())
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-nostdin", "-s", DIALLED])
        .args(["-key", "caller", CALLER, "-key", "agent", AGENT, "-key", "transfer_to", TRANSFER_TO])
        .args(["-trace_err", "-error_file"])
        .arg(dir.path().join("errors.log"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file);
    command
}

/// The last row of a SIPp `-trace_stat` file (`;`-separated, header first).
fn parse_stats(csv: &str) -> SippStats {
    let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
    let Some(header) = lines.next() else { return SippStats::default() };
    let Some(last) = lines.next_back() else { return SippStats::default() };
    let columns: Vec<&str> = header.split(';').collect();
    let values: Vec<&str> = last.split(';').collect();
    let field = |name: &str| {
        columns
            .iter()
            .position(|column| *column == name)
            .and_then(|i| values.get(i))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    };
    SippStats {
        created: field("TotalCallCreated"),
        successful: field("SuccessfulCall(C)"),
        failed: field("FailedCall(C)"),
    }
}

/// Datagrams with their arrival time.
type Received = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

/// A UDP socket on 127.0.0.1 that keeps every datagram it receives (the HEP collector of a test).
pub struct HepSink {
    port: u16,
    received: Received,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HepSink {
    /// Binds a free port and collects on a thread until dropped.
    pub fn start() -> HepSink {
        // Bound here and kept: no window in which another process could take the port.
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the HEP sink");
        socket.set_read_timeout(Some(Duration::from_millis(20))).expect("read timeout");
        let port = socket.local_addr().expect("local address").port();
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65_535];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buffer) {
                        received.lock().expect("sink").push((Instant::now(), buffer[..n].to_vec()));
                    }
                }
            })
        };
        HepSink { port, received, stop, thread: Some(thread) }
    }

    /// Its port on 127.0.0.1: give it to [`Kamailio::start`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many datagrams arrived so far.
    pub fn count(&self) -> usize {
        self.received.lock().expect("sink").len()
    }

    /// Every datagram so far, in arrival order.
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.received.lock().expect("sink").iter().map(|(_, datagram)| datagram.clone()).collect()
    }

    /// Waits until nothing has arrived for `quiet` (or `max` has passed), then returns every datagram.
    pub fn settle(&self, quiet: Duration, max: Duration) -> Vec<Vec<u8>> {
        let started = Instant::now();
        loop {
            let last = self.received.lock().expect("sink").last().map(|(at, _)| *at);
            let idle_since = last.map_or(started, |at| at.max(started));
            if idle_since.elapsed() >= quiet || started.elapsed() >= max {
                return self.datagrams();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HepSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The captured packet (chunk type 0x000f, the SIP message) of a HEP3 datagram, by walking its
/// chunks; `None` when it is not HEP3 or has no payload chunk. Deliberately minimal: the adapter's
/// decoder is the real one, this only lets rig tests read what Kamailio mirrored.
pub fn hep3_payload(datagram: &[u8]) -> Option<&[u8]> {
    if datagram.len() < 6 || &datagram[..4] != b"HEP3" {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([datagram[4], datagram[5]])).min(datagram.len());
    let mut at = 6;
    while at + 6 <= total {
        let chunk_type = u16::from_be_bytes([datagram[at + 2], datagram[at + 3]]);
        let length = usize::from(u16::from_be_bytes([datagram[at + 4], datagram[at + 5]]));
        if length < 6 || at + length > total {
            return None;
        }
        if chunk_type == 0x000f {
            return Some(&datagram[at + 6..at + length]);
        }
        at += length;
    }
    None
}

/// The SIP messages of HEP3 datagrams, as text (panics on a datagram that is not HEP3 with a payload).
pub fn sip_messages(datagrams: &[Vec<u8>]) -> Vec<String> {
    datagrams
        .iter()
        .map(|datagram| {
            let payload = hep3_payload(datagram).unwrap_or_else(|| {
                panic!("not a HEP3 datagram with a SIP payload: {:?}", String::from_utf8_lossy(datagram))
            });
            String::from_utf8_lossy(payload).into_owned()
        })
        .collect()
}

/// The start line of a SIP message ("INVITE sip:… SIP/2.0", "SIP/2.0 180 Ringing").
pub fn start_line(message: &str) -> &str {
    message.lines().next().unwrap_or("").trim_end()
}

/// The value of the first header `name` (case-insensitive) of a SIP message.
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message
        .lines()
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
}
