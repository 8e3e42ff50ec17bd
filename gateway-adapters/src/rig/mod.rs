//! Real SIP peers (the `rig` feature): a Kamailio proxy that mirrors every SIP message as HEP3 to
//! a UDP port, between SIPp peers playing the scenarios under `scenarios/`. The adapter's own
//! tests and the telephony rows of `hotline bench` both run it.
//!
//! ```no_run
//! # fn example() -> Result<(), hotline_gateway_adapters::rig::RigError> {
//! use hotline_gateway_adapters::rig::{sip_messages, HepSink, Kamailio, Scenario, Sipp};
//! use std::time::Duration;
//!
//! let sink = HepSink::start()?; // UDP socket collecting datagrams
//! let kamailio = Kamailio::start(sink.port())?; // free ports; stopped on drop
//! let (uac, uas) = Scenario::pair("abandoned")?;
//! let _uas = Sipp::uas(&uas, kamailio.uas_port())?; // killed on drop
//! Sipp::uac(&uac, kamailio.addr(), 1, 1)?.check_success(1)?;
//! let datagrams = sink.settle(Duration::from_millis(400), Duration::from_secs(10));
//! let messages = sip_messages(&datagrams)?; // SIP text of each HEP3 payload chunk
//! # Ok(())
//! # }
//! ```
//!
//! The Kamailio config template and the scenarios are embedded in the binary (`include_str!`):
//! each SIPp run writes its scenario to its own scratch directory, so the bench needs no source
//! tree at run time. Std only. Every process runs on 127.0.0.1 on ports the OS hands out, so
//! callers can run in parallel. Failures are [`RigError`]s carrying the peer's log; a missing
//! `kamailio` or `sipp` is an error naming the install command, never a silent skip.
//!
//! Port races are not left to chance: the HEP sink keeps the port it binds, a peer is ready only
//! when the child process itself holds its port (its `/proc` fds), and Kamailio and the UAC retry
//! on a new port when theirs was taken between finding it free and binding it.
//!
//! # Architecture Invariants
//! - Std and `thiserror` only; compiled only with the `rig` feature, so the adapter itself never
//!   starts a process.
//! - Every child is stopped on drop, and on every error path after it started.

use std::collections::HashSet;
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

/// The Kamailio config template; `@LISTEN_PORT@`, `@UAS_HOST@`, `@UAS_PORT@`, `@HEP_PORT@` are filled in.
pub const KAMAILIO_TEMPLATE: &str = include_str!("kamailio.cfg.in");

/// Every scenario of the rig: `(file name, SIPp XML)`, in pairs `<case>_uac.xml` / `<case>_uas.xml`.
const SCENARIOS: &[(&str, &str)] = &[
    ("abandoned_uac.xml", include_str!("scenarios/abandoned_uac.xml")),
    ("abandoned_uas.xml", include_str!("scenarios/abandoned_uas.xml")),
    ("answered_uac.xml", include_str!("scenarios/answered_uac.xml")),
    ("answered_uas.xml", include_str!("scenarios/answered_uas.xml")),
    ("callee_hangup_uac.xml", include_str!("scenarios/callee_hangup_uac.xml")),
    ("callee_hangup_uas.xml", include_str!("scenarios/callee_hangup_uas.xml")),
    ("completed_elsewhere_uac.xml", include_str!("scenarios/completed_elsewhere_uac.xml")),
    ("completed_elsewhere_uas.xml", include_str!("scenarios/completed_elsewhere_uas.xml")),
    ("hold_uac.xml", include_str!("scenarios/hold_uac.xml")),
    ("hold_uas.xml", include_str!("scenarios/hold_uas.xml")),
    ("no_answer_uac.xml", include_str!("scenarios/no_answer_uac.xml")),
    ("no_answer_uas.xml", include_str!("scenarios/no_answer_uas.xml")),
    ("register_uac.xml", include_str!("scenarios/register_uac.xml")),
    ("register_uas.xml", include_str!("scenarios/register_uas.xml")),
    ("rejected_uac.xml", include_str!("scenarios/rejected_uac.xml")),
    ("rejected_uas.xml", include_str!("scenarios/rejected_uas.xml")),
    ("transfer_uac.xml", include_str!("scenarios/transfer_uac.xml")),
    ("transfer_uas.xml", include_str!("scenarios/transfer_uas.xml")),
];

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
/// How many ports a peer tries when the one it was given is taken before it binds it.
const BIND_ATTEMPTS: usize = 5;
/// Kamailio's shared memory unless told otherwise, MB: small (the default is 64), so that
/// parallel tests fit.
const KAMAILIO_SHARED_MEMORY_MB: u32 = 32;

/// Why the rig could not do what it was asked. Its `Debug` is its `Display`, so that a test's
/// `.expect("…")` shows the peer's log as it was written.
#[derive(thiserror::Error)]
pub enum RigError {
    /// A tool the rig runs is not installed.
    #[error(
        "not installed: {tools}, which the telephony rig needs: `apt-get install -y {packages}` \
         (ops/test.sh installs it where it is missing)"
    )]
    NotInstalled {
        /// What is missing, e.g. "`kamailio` and `sipp`".
        tools: String,
        /// The Debian packages to install.
        packages: String,
    },
    /// A file, directory, socket or process could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What the rig was doing.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A peer exited before it bound its port, for another reason than the port being taken.
    #[error("{what} exited ({status}) before binding 127.0.0.1:{port}:\n{log}")]
    ExitedBeforeBinding {
        /// Which peer.
        what: &'static str,
        /// The port it was given.
        port: u16,
        /// How it exited.
        status: ExitStatus,
        /// What it logged.
        log: String,
    },
    /// A peer did not bind its port in time (it was stopped).
    #[error("{what} did not bind 127.0.0.1:{port} within {timeout:?}:\n{log}")]
    NotReady {
        /// Which peer.
        what: &'static str,
        /// The port it was given.
        port: u16,
        /// How long it was given.
        timeout: Duration,
        /// What it logged.
        log: String,
    },
    /// Someone else took the peer's port before it bound it, on every attempt.
    #[error("{what}: port taken {attempts} times in a row:\n{log}")]
    PortTaken {
        /// Which peer.
        what: &'static str,
        /// How many ports it tried.
        attempts: usize,
        /// What it logged the last time.
        log: String,
    },
    /// A UAC run did not finish in time (it was killed).
    #[error("sipp UAC ran past {timeout:?}\n--- errors\n{errors}\n--- output\n{output}")]
    UacTimedOut {
        /// How long it was given.
        timeout: Duration,
        /// Its `-trace_err` log.
        errors: String,
        /// What it printed.
        output: String,
    },
    /// A UAC run ended with failed calls or fewer successful calls than wanted.
    #[error("sipp UAC: {status} with {stats:?}, wanted {wanted} successful calls\n--- errors\n{errors}\n--- output\n{output}")]
    CallsFailed {
        /// SIPp's exit status.
        status: ExitStatus,
        /// Its final statistics.
        stats: SippStats,
        /// How many successful calls were wanted.
        wanted: u64,
        /// Its `-trace_err` log.
        errors: String,
        /// What it printed.
        output: String,
    },
    /// No scenario file of that name.
    #[error("no rig scenario {0:?}")]
    UnknownScenario(String),
    /// A datagram that is not HEP3 with a SIP payload.
    #[error("not a HEP3 datagram with a SIP payload: {0:?}")]
    NotHep3(String),
}

impl std::fmt::Debug for RigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RigError {
    let what = what.into();
    move |source| RigError::Io { what, source }
}

/// A UDP port on 127.0.0.1 that was free a moment ago and that this process has not handed out before.
pub fn free_udp_port() -> Result<u16, RigError> {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_error("bind a UDP port on 127.0.0.1"))?;
        let port = socket.local_addr().map_err(io_error("local address of a UDP port"))?.port();
        if handed_out.lock().expect("port registry is never poisoned").insert(port) {
            return Ok(port);
        }
    }
}

/// The tools the rig runs: `(name, Debian package)`.
const TOOLS: [(&str, &str); 2] = [("kamailio", "kamailio"), ("sipp", "sip-tester")];

/// Whether `kamailio` and `sipp` are both installed; the error names every missing one.
pub fn check_installed() -> Result<(), RigError> {
    let missing: Vec<(&str, &str)> = TOOLS.into_iter().filter(|(name, _)| find_tool(name).is_none()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(RigError::NotInstalled {
        tools: missing.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(" and "),
        packages: missing.iter().map(|(_, package)| *package).collect::<Vec<_>>().join(" "),
    })
}

/// The path of an installed tool, looked up in `PATH` and the sbin directories (kamailio lives in
/// /usr/sbin, often not in a user's `PATH`); the error names the install command.
pub fn require_tool(name: &str, package: &str) -> Result<PathBuf, RigError> {
    find_tool(name).ok_or_else(|| RigError::NotInstalled { tools: format!("`{name}`"), packages: package.to_owned() })
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from));
    dirs.into_iter().map(|dir| dir.join(name)).find(|candidate| {
        fs::metadata(candidate).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}

/// A scratch directory, removed on drop unless the thread is panicking (then kept, for the logs).
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// A new empty directory under the system temp dir.
    pub fn new(what: &str) -> Result<ScratchDir, RigError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name =
            format!("hotline-rig-{what}-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).map_err(io_error(format!("create {}", path.display())))?;
        Ok(ScratchDir { path })
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

/// How waiting for a peer's port ended, when it did not fail.
enum Bound {
    /// The child itself holds the port.
    Yes,
    /// It exited because the port was taken meanwhile (its log): the caller may retry on another.
    Taken(String),
}

/// Waits until `child` itself has bound `port`. `Bound::Taken` when it exited because the port was
/// taken meanwhile; an error, with its log, on any other exit, or when it takes too long (then the
/// child is stopped with `stop`).
fn wait_bound(
    child: &mut Child,
    port: u16,
    what: &'static str,
    log: &Path,
    stop: fn(&mut Child),
) -> Result<Bound, RigError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let log = read_lossy(log);
                if log.contains("Address already in use") {
                    return Ok(Bound::Taken(log));
                }
                return Err(RigError::ExitedBeforeBinding { what, port, status, log });
            }
            Ok(None) => {}
            Err(source) => {
                stop(child);
                return Err(RigError::Io { what: format!("poll {what}"), source });
            }
        }
        if holds_udp_port(child.id(), port) {
            return Ok(Bound::Yes);
        }
        if Instant::now() > deadline {
            stop(child);
            return Err(RigError::NotReady { what, port, timeout: READY_TIMEOUT, log: read_lossy(log) });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

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

/// Kills a child and reaps it.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops a Kamailio started in its own process group: SIGTERM to the group, SIGKILL after 3 s,
/// then SIGKILL to the group again (workers outliving a killed main process share its group).
fn stop_group(child: &mut Child) {
    let pgid = child.id();
    signal_group(pgid, "-TERM");
    if wait_timeout(child, Duration::from_secs(3)).is_none() {
        kill(child);
    }
    signal_group(pgid, "-KILL");
}

/// A running Kamailio, rendered from the rig template: listens on 127.0.0.1:`port()`, relays every
/// request to the UAS on 127.0.0.1:`uas_port()`, mirrors every message as HEP3 to 127.0.0.1:hep_port.
/// Stopped (SIGTERM to its process group, then SIGKILL) on drop.
#[derive(Debug)]
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
    pub fn start(hep_port: u16) -> Result<Kamailio, RigError> {
        Kamailio::start_with_shared_memory(hep_port, KAMAILIO_SHARED_MEMORY_MB)
    }

    /// As [`Kamailio::start`], with `megabytes` of shared memory (`-m`) instead of 32: room for
    /// many concurrent calls.
    pub fn start_with_shared_memory(hep_port: u16, megabytes: u32) -> Result<Kamailio, RigError> {
        let binary = require_tool("kamailio", "kamailio")?;
        let uas_port = free_udp_port()?;
        let mut last_log = String::new();
        for attempt in 1..=BIND_ATTEMPTS {
            let dir = ScratchDir::new("kamailio")?;
            let port = free_udp_port()?;
            let config = render_kamailio_config(port, "127.0.0.1", uas_port, hep_port);
            let config_path = dir.path().join("kamailio.cfg");
            fs::write(&config_path, config).map_err(io_error("write kamailio.cfg"))?;
            let log = dir.path().join("kamailio.log");
            let log_file = fs::File::create(&log).map_err(io_error("create kamailio.log"))?;
            let log_copy = log_file.try_clone().map_err(io_error("kamailio.log handle"))?;
            // -DD: foreground with its worker children; -E: log to stderr; small shared/private
            // memory (defaults 64 MB + 8 MB per process) so that parallel tests fit. Runs as whoever
            // runs it (root included): every port is above 1024, so neither -u nor -g is needed.
            let mut child = Command::new(&binary)
                .arg("-f")
                .arg(&config_path)
                .arg("-P")
                .arg(dir.path().join("kamailio.pid"))
                .arg("-w")
                .arg(dir.path())
                .args(["-DD", "-E", "-m", &megabytes.to_string(), "-M", "8"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log_copy)
                .stderr(log_file)
                .process_group(0)
                .spawn()
                .map_err(io_error(format!("start {}", binary.display())))?;
            match wait_bound(&mut child, port, "kamailio", &log, stop_group)? {
                Bound::Yes => return Ok(Kamailio { child, port, uas_port, hep_port, dir }),
                Bound::Taken(log) => {
                    if attempt < BIND_ATTEMPTS {
                        eprintln!("rig: kamailio lost port {port}, retrying:\n{log}");
                    }
                    last_log = log;
                }
            }
        }
        Err(RigError::PortTaken { what: "kamailio", attempts: BIND_ATTEMPTS, log: last_log })
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
        stop_group(&mut self.child);
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

/// A SIPp scenario of the rig, embedded; each run writes it to its own directory (`-sf`).
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    file: &'static str,
    xml: &'static str,
}

impl Scenario {
    /// A scenario file of the rig, e.g. "answered_uac.xml".
    pub fn rig(file: &str) -> Result<Scenario, RigError> {
        SCENARIOS
            .iter()
            .find(|(name, _)| *name == file)
            .map(|&(file, xml)| Scenario { file, xml })
            .ok_or_else(|| RigError::UnknownScenario(file.to_owned()))
    }

    /// The rig's pair for a case, `(UAC, UAS)`: `{case}_uac.xml` and `{case}_uas.xml`.
    pub fn pair(case: &str) -> Result<(Scenario, Scenario), RigError> {
        Ok((Scenario::rig(&format!("{case}_uac.xml"))?, Scenario::rig(&format!("{case}_uas.xml"))?))
    }

    /// Writes it under `dir`; returns its path.
    fn write(&self, dir: &Path) -> Result<PathBuf, RigError> {
        let path = dir.join(self.file);
        fs::write(&path, self.xml).map_err(io_error(format!("write {}", path.display())))?;
        Ok(path)
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
#[derive(Clone, Debug)]
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
    /// Whether it exited 0 with `calls` successful calls and none failed.
    pub fn succeeded(&self, calls: u64) -> bool {
        self.status.success() && self.stats.successful == calls && self.stats.failed == 0
    }

    /// An error, with SIPp's output and error log, unless it exited 0 with `calls` successful calls.
    pub fn check_success(&self, calls: u64) -> Result<(), RigError> {
        if self.succeeded(calls) {
            return Ok(());
        }
        Err(RigError::CallsFailed {
            status: self.status,
            stats: self.stats,
            wanted: calls,
            errors: self.errors.clone(),
            output: self.output.clone(),
        })
    }
}

/// A SIPp UAS running a scenario on 127.0.0.1:`port()` for as many calls as come; killed on drop.
#[derive(Debug)]
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
        kill(&mut self.child);
    }
}

/// Runs SIPp peers. Every run gets the rig's numbers: `-s` [`DIALLED`], `-key caller` [`CALLER`],
/// `-key agent` [`AGENT`], `-key transfer_to` [`TRANSFER_TO`].
#[derive(Debug)]
pub struct Sipp;

impl Sipp {
    /// Starts a UAS with `scenario` on 127.0.0.1:`port` (usually `kamailio.uas_port()`); returns once
    /// its port is bound.
    pub fn uas(scenario: &Scenario, port: u16) -> Result<SippUas, RigError> {
        let dir = ScratchDir::new("sipp-uas")?;
        let log = dir.path().join("sipp.log");
        let mut command = sipp_command(scenario, port, &dir, &log)?;
        let mut child = command.spawn().map_err(io_error("start sipp UAS"))?;
        match wait_bound(&mut child, port, "sipp UAS", &log, kill)? {
            Bound::Yes => Ok(SippUas { child, port, dir }),
            Bound::Taken(log) => Err(RigError::PortTaken { what: "sipp UAS", attempts: 1, log }),
        }
    }

    /// Runs a UAC with `scenario` against `target` (the proxy) from a free port: `calls` calls
    /// (`-m`) at `rate` calls per second (`-r`), in the foreground, to completion.
    pub fn uac(scenario: &Scenario, target: SocketAddr, calls: u32, rate: u32) -> Result<SippRun, RigError> {
        Sipp::uac_with(scenario, target, calls, rate, &[], UAC_TIMEOUT)
    }

    /// As [`Sipp::uac`], with extra sipp arguments, killed (and an error) past `timeout`.
    pub fn uac_with(
        scenario: &Scenario,
        target: SocketAddr,
        calls: u32,
        rate: u32,
        extra: &[&str],
        timeout: Duration,
    ) -> Result<SippRun, RigError> {
        let mut last_output = String::new();
        for attempt in 1..=BIND_ATTEMPTS {
            let dir = ScratchDir::new("sipp-uac")?;
            let log = dir.path().join("sipp.log");
            let stats_path = dir.path().join("stats.csv");
            let port = free_udp_port()?;
            let mut command = sipp_command(scenario, port, &dir, &log)?;
            command
                .args(["-m", &calls.to_string(), "-r", &rate.to_string(), "-trace_stat", "-fd", "1", "-stf"])
                .arg(&stats_path)
                .args(extra)
                .arg(target.to_string());
            let started = Instant::now();
            let mut child = command.spawn().map_err(io_error("start sipp UAC"))?;
            let Some(status) = wait_timeout(&mut child, timeout) else {
                kill(&mut child);
                return Err(RigError::UacTimedOut {
                    timeout,
                    errors: read_lossy(&dir.path().join("errors.log")),
                    output: read_lossy(&log),
                });
            };
            let output = read_lossy(&log);
            // Exit 254: it could not bind its port, which someone took since it was found free.
            if status.code() == Some(254) && output.contains("Address already in use") {
                if attempt < BIND_ATTEMPTS {
                    eprintln!("rig: sipp UAC lost port {port}, retrying");
                }
                last_output = output;
                continue;
            }
            return Ok(SippRun {
                status,
                stats: parse_stats(&read_lossy(&stats_path)),
                elapsed: started.elapsed(),
                output,
                errors: read_lossy(&dir.path().join("errors.log")),
            });
        }
        Err(RigError::PortTaken { what: "sipp UAC", attempts: BIND_ATTEMPTS, log: last_output })
    }
}

fn sipp_command(scenario: &Scenario, port: u16, dir: &ScratchDir, log: &Path) -> Result<Command, RigError> {
    let binary = require_tool("sipp", "sip-tester")?;
    let scenario_path = scenario.write(dir.path())?;
    let log_file = fs::File::create(log).map_err(io_error("create sipp log"))?;
    let log_copy = log_file.try_clone().map_err(io_error("sipp log handle"))?;
    let mut command = Command::new(binary);
    command
        .arg("-sf")
        .arg(scenario_path)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-nostdin", "-s", DIALLED])
        .args(["-key", "caller", CALLER, "-key", "agent", AGENT, "-key", "transfer_to", TRANSFER_TO])
        .args(["-trace_err", "-error_file"])
        .arg(dir.path().join("errors.log"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log_copy)
        .stderr(log_file);
    Ok(command)
}

/// The last row of a SIPp `-trace_stat` file (`;`-separated, header first).
fn parse_stats(csv: &str) -> SippStats {
    let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
    let (Some(header), Some(last)) = (lines.next(), lines.next_back()) else { return SippStats::default() };
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

/// A UDP socket on 127.0.0.1 that keeps every datagram it receives (a plain HEP collector).
#[derive(Debug)]
pub struct HepSink {
    port: u16,
    received: Received,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HepSink {
    /// Binds a free port and collects on a thread until dropped.
    pub fn start() -> Result<HepSink, RigError> {
        // Bound here and kept: no window in which another process could take the port.
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_error("bind the HEP sink"))?;
        socket.set_read_timeout(Some(Duration::from_millis(20))).map_err(io_error("HEP sink read timeout"))?;
        let port = socket.local_addr().map_err(io_error("HEP sink address"))?.port();
        let received: Received = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65_535];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buffer) {
                        received.lock().expect("sink is never poisoned").push((Instant::now(), buffer[..n].to_vec()));
                    }
                }
            })
        };
        Ok(HepSink { port, received, stop, thread: Some(thread) })
    }

    /// Its port on 127.0.0.1: give it to [`Kamailio::start`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many datagrams arrived so far.
    pub fn count(&self) -> usize {
        self.received.lock().expect("sink is never poisoned").len()
    }

    /// Every datagram so far, in arrival order.
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.received.lock().expect("sink is never poisoned").iter().map(|(_, datagram)| datagram.clone()).collect()
    }

    /// Waits until nothing has arrived for `quiet` (or `max` has passed), then returns every datagram.
    pub fn settle(&self, quiet: Duration, max: Duration) -> Vec<Vec<u8>> {
        let started = Instant::now();
        loop {
            let last = self.received.lock().expect("sink is never poisoned").last().map(|(at, _)| *at);
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
/// decoder is the real one, this only lets rig users read what Kamailio mirrored.
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

/// The SIP messages of HEP3 datagrams, as text; an error names the first datagram that is not
/// HEP3 with a payload.
pub fn sip_messages(datagrams: &[Vec<u8>]) -> Result<Vec<String>, RigError> {
    datagrams
        .iter()
        .map(|datagram| {
            let payload =
                hep3_payload(datagram).ok_or_else(|| RigError::NotHep3(String::from_utf8_lossy(datagram).into()))?;
            Ok(String::from_utf8_lossy(payload).into_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scenario the rig embeds pairs up: a UAC and a UAS for each case.
    #[test]
    fn every_case_has_both_sides() {
        for (file, _) in SCENARIOS {
            let case = file.trim_end_matches("_uac.xml").trim_end_matches("_uas.xml");
            assert!(Scenario::pair(case).is_ok(), "{file} has no partner");
        }
        assert!(matches!(Scenario::pair("no_such_case"), Err(RigError::UnknownScenario(_))));
    }

    #[test]
    fn a_missing_tool_is_an_error_naming_the_install_command() {
        let error = require_tool("hotline-no-such-tool", "hotline-no-such-package").expect_err("not installed");
        let message = error.to_string();
        assert!(message.contains("not installed: `hotline-no-such-tool`"), "{message}");
        assert!(message.contains("`apt-get install -y hotline-no-such-package`"), "{message}");
    }
}
