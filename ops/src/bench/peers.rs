//! Real SIP peers for the telephony rows of `hotline bench`: a Kamailio proxy that mirrors every
//! message as HEP3 to a UDP port, between SIPp peers playing the rig's `answered` scenario pair.
//!
//! Moved from the test rig (`gateway-adapters/tests/rig/mod.rs`, which the tests keep using): the
//! bench binary cannot read test files at run time, so the Kamailio config template and the two
//! scenario files are embedded here with `include_str!` and written to a scratch directory.
//! Errors are returned, not panics: a bench row fails with a message instead of a backtrace.
//! Every process runs on 127.0.0.1, on ports the OS hands out; each is stopped on drop.

use anyhow::{bail, Context};
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The rig's Kamailio config template; `@LISTEN_PORT@`, `@UAS_HOST@`, `@UAS_PORT@`, `@HEP_PORT@`
/// are filled in.
const KAMAILIO_TEMPLATE: &str = include_str!("../../../gateway-adapters/tests/rig/kamailio.cfg.in");
/// The rig's answered call, caller side: INVITE, 200, ACK, 300 ms talk, BYE.
const ANSWERED_UAC: &str = include_str!("../../../gateway-adapters/tests/rig/scenarios/answered_uac.xml");
/// The rig's answered call, agent side: 180, 200 ms later 200 (as extension [`AGENT`]), BYE's 200.
const ANSWERED_UAS: &str = include_str!("../../../gateway-adapters/tests/rig/scenarios/answered_uas.xml");

/// The caller's number (From user), as in the rig.
pub const CALLER: &str = "0301234567";
/// The dialled number (Request-URI user), as in the rig.
pub const DIALLED: &str = "1800";
/// The agent's extension (Contact user of the UAS's 180/200), as in the rig.
pub const AGENT: &str = "8001";

/// How long a peer may take to bind its port.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports a peer tries when the one it was given is taken before it binds it.
const BIND_ATTEMPTS: usize = 5;

/// The installed `kamailio` and `sipp`, or what is missing and how to install it.
#[derive(Debug, Clone)]
pub struct Tools {
    kamailio: PathBuf,
    sipp: PathBuf,
}

impl Tools {
    /// Finds both tools in `PATH` and the sbin directories (kamailio lives in /usr/sbin); `Err`
    /// names what is missing with the install command.
    pub fn find() -> Result<Tools, String> {
        match (find_tool("kamailio"), find_tool("sipp")) {
            (Some(kamailio), Some(sipp)) => Ok(Tools { kamailio, sipp }),
            (kamailio, sipp) => {
                let missing: Vec<&str> = [("kamailio", kamailio.is_none()), ("sipp", sipp.is_none())]
                    .into_iter()
                    .filter_map(|(name, missing)| missing.then_some(name))
                    .collect();
                Err(format!("{} not installed (`apt-get install -y kamailio sip-tester`)", missing.join(" and ")))
            }
        }
    }
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"].map(PathBuf::from));
    dirs.into_iter().map(|dir| dir.join(name)).find(|candidate| {
        fs::metadata(candidate).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}

/// The embedded scenarios, written to a directory.
#[derive(Debug, Clone)]
pub struct Scenarios {
    uac: PathBuf,
    uas: PathBuf,
}

impl Scenarios {
    /// Writes the `answered` pair under `dir`.
    pub fn write(dir: &Path) -> anyhow::Result<Scenarios> {
        fs::create_dir_all(dir)?;
        let (uac, uas) = (dir.join("answered_uac.xml"), dir.join("answered_uas.xml"));
        fs::write(&uac, ANSWERED_UAC)?;
        fs::write(&uas, ANSWERED_UAS)?;
        Ok(Scenarios { uac, uas })
    }
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
fn free_udp_port() -> anyhow::Result<u16> {
    Ok(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// A fresh directory under `parent` for one process's files.
fn process_dir(parent: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = parent.join(format!("{what}-{nanos}"));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn read_lossy(path: &Path) -> String {
    fs::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

/// Whether process `pid` holds a UDP socket bound to `port` on 127.0.0.1 or any address.
fn holds_udp_port(pid: u32, port: u16) -> bool {
    let table = fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let wanted = [format!("0100007F:{port:04X}"), format!("00000000:{port:04X}")];
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.len() > 9 && wanted.iter().any(|w| w == fields[1]))
        .map(|fields| format!("socket:[{}]", fields[9]))
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
        .any(|target| inodes.iter().any(|inode| target.to_string_lossy() == *inode))
}

/// How waiting for a peer's port ended.
enum Bound {
    Yes,
    /// It exited because the port was taken meanwhile: try another.
    Taken(String),
}

/// Waits until `child` itself has bound `port`.
fn wait_bound(child: &mut Child, port: u16, what: &str, log: &Path) -> anyhow::Result<Bound> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            let log = read_lossy(log);
            if log.contains("Address already in use") {
                return Ok(Bound::Taken(log));
            }
            bail!("{what} exited ({status}) before binding 127.0.0.1:{port}:\n{log}");
        }
        if holds_udp_port(child.id(), port) {
            return Ok(Bound::Yes);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not bind 127.0.0.1:{port} within {READY_TIMEOUT:?}:\n{}", read_lossy(log));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Sends `signal` to the process group `pgid` (a child started with `process_group(0)`).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A running Kamailio rendered from the rig template: listens on [`Kamailio::addr`], relays every
/// request to a UAS on 127.0.0.1:[`Kamailio::uas_port`], mirrors every message as HEP3 to the
/// port it was given. Stopped (SIGTERM to its process group, then SIGKILL) on drop.
pub struct Kamailio {
    child: Child,
    port: u16,
    uas_port: u16,
    dir: PathBuf,
}

impl Kamailio {
    /// Starts Kamailio on a free port, relaying to a free port for the UAS, mirroring to
    /// 127.0.0.1:`hep_port`; returns once the proxy's port is bound.
    pub fn start(tools: &Tools, scratch: &Path, hep_port: u16) -> anyhow::Result<Kamailio> {
        let uas_port = free_udp_port()?;
        for _ in 0..BIND_ATTEMPTS {
            let dir = process_dir(scratch, "kamailio")?;
            let port = free_udp_port()?;
            let config = KAMAILIO_TEMPLATE
                .replace("@LISTEN_PORT@", &port.to_string())
                .replace("@UAS_HOST@", "127.0.0.1")
                .replace("@UAS_PORT@", &uas_port.to_string())
                .replace("@HEP_PORT@", &hep_port.to_string());
            let config_path = dir.join("kamailio.cfg");
            fs::write(&config_path, config)?;
            let log = dir.join("kamailio.log");
            let log_file = fs::File::create(&log)?;
            // -DD: foreground with its workers; -E: log to stderr; small shared/private memory.
            let mut child = Command::new(&tools.kamailio)
                .arg("-f")
                .arg(&config_path)
                .arg("-P")
                .arg(dir.join("kamailio.pid"))
                .arg("-w")
                .arg(&dir)
                .args(["-DD", "-E", "-m", "64", "-M", "8"])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone()?)
                .stderr(log_file)
                .process_group(0)
                .spawn()
                .with_context(|| format!("start {}", tools.kamailio.display()))?;
            match wait_bound(&mut child, port, "kamailio", &log)? {
                Bound::Yes => return Ok(Kamailio { child, port, uas_port, dir }),
                Bound::Taken(_) => continue,
            }
        }
        bail!("kamailio: its port was taken {BIND_ATTEMPTS} times in a row")
    }

    /// The proxy's SIP address: where UACs send.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Where the proxy relays requests: the UAS's port on 127.0.0.1.
    pub fn uas_port(&self) -> u16 {
        self.uas_port
    }

    /// What Kamailio logged so far.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.join("kamailio.log"))
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

fn sipp_command(tools: &Tools, scenario: &Path, port: u16, dir: &Path, log: &Path) -> anyhow::Result<Command> {
    let log_file = fs::File::create(log)?;
    let mut command = Command::new(&tools.sipp);
    command
        .arg("-sf")
        .arg(scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-nostdin", "-s", DIALLED])
        .args(["-key", "caller", CALLER, "-key", "agent", AGENT])
        .args(["-trace_err", "-error_file"])
        .arg(dir.join("errors.log"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    Ok(command)
}

/// A SIPp UAS answering every call of the `answered` scenario on 127.0.0.1; killed on drop.
pub struct SippUas {
    child: Child,
}

impl SippUas {
    /// Starts the UAS on 127.0.0.1:`port` (the Kamailio's [`Kamailio::uas_port`]); returns once
    /// the port is bound.
    pub fn start(tools: &Tools, scenarios: &Scenarios, scratch: &Path, port: u16) -> anyhow::Result<SippUas> {
        let dir = process_dir(scratch, "sipp-uas")?;
        let log = dir.join("sipp.log");
        // Many concurrent calls: without -max_socket/-l defaults SIPp answers them all.
        let mut child = sipp_command(tools, &scenarios.uas, port, &dir, &log)?.spawn().context("start sipp UAS")?;
        match wait_bound(&mut child, port, "sipp UAS", &log)? {
            Bound::Yes => Ok(SippUas { child }),
            Bound::Taken(log) => bail!("sipp UAS: 127.0.0.1:{port} was taken:\n{log}"),
        }
    }
}

impl Drop for SippUas {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished UAC run.
#[derive(Debug, Clone)]
pub struct UacRun {
    /// SIPp exited 0 (every call succeeded).
    pub success: bool,
    /// Calls that ran the scenario to its end (`SuccessfulCall(C)`).
    pub successful: u64,
    /// Calls that failed (`FailedCall(C)`).
    pub failed: u64,
    /// How long it ran.
    pub elapsed: Duration,
    /// Its `-trace_err` log, for a failure's note.
    pub errors: String,
}

/// Runs the `answered` UAC against `target`: `calls` calls at `rate` calls per second, at most
/// `limit` at once; killed (an error) past `timeout`.
pub fn uac(
    tools: &Tools,
    scenarios: &Scenarios,
    scratch: &Path,
    target: SocketAddr,
    (calls, rate, limit): (u32, u32, Option<u32>),
    timeout: Duration,
) -> anyhow::Result<UacRun> {
    for _ in 0..BIND_ATTEMPTS {
        let dir = process_dir(scratch, "sipp-uac")?;
        let log = dir.join("sipp.log");
        let stats_path = dir.join("stats.csv");
        let port = free_udp_port()?;
        let mut command = sipp_command(tools, &scenarios.uac, port, &dir, &log)?;
        command
            .args(["-m", &calls.to_string(), "-r", &rate.to_string(), "-trace_stat", "-fd", "1", "-stf"])
            .arg(&stats_path);
        if let Some(limit) = limit {
            command.args(["-l", &limit.to_string()]);
        }
        command.arg(target.to_string());
        let started = Instant::now();
        let mut child = command.spawn().context("start sipp UAC")?;
        let Some(status) = wait_timeout(&mut child, timeout) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("sipp UAC ran past {timeout:?}:\n{}", read_lossy(&dir.join("errors.log")));
        };
        let output = read_lossy(&log);
        // Exit 254: it could not bind its port, which someone took since it was found free.
        if status.code() == Some(254) && output.contains("Address already in use") {
            continue;
        }
        let (successful, failed) = parse_stats(&read_lossy(&stats_path));
        return Ok(UacRun {
            success: status.success(),
            successful,
            failed,
            elapsed: started.elapsed(),
            errors: read_lossy(&dir.join("errors.log")),
        });
    }
    bail!("sipp UAC: its port was taken {BIND_ATTEMPTS} times in a row")
}

/// Successful and failed calls from the last row of a SIPp `-trace_stat` file.
fn parse_stats(csv: &str) -> (u64, u64) {
    let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
    let (Some(header), Some(last)) = (lines.next(), lines.next_back()) else { return (0, 0) };
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
    (field("SuccessfulCall(C)"), field("FailedCall(C)"))
}

/// Datagrams with their arrival time.
type Received = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

/// A UDP socket on 127.0.0.1 that keeps every datagram it receives (a plain HEP collector).
pub struct HepSink {
    port: u16,
    received: Received,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HepSink {
    /// Binds a free port and collects on a thread until dropped.
    pub fn start() -> anyhow::Result<HepSink> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        let port = socket.local_addr()?.port();
        let received: Received = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65_535];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buffer) {
                        received.lock().expect("sink").push((Instant::now(), buffer[..n].to_vec()));
                    }
                }
            })
        };
        Ok(HepSink { port, received, stop, thread: Some(thread) })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until nothing has arrived for `quiet` (or `max` has passed), then returns every
    /// datagram in arrival order.
    pub fn settle(&self, quiet: Duration, max: Duration) -> Vec<Vec<u8>> {
        let started = Instant::now();
        loop {
            let last = self.received.lock().expect("sink").last().map(|(at, _)| *at);
            let idle_since = last.map_or(started, |at| at.max(started));
            if idle_since.elapsed() >= quiet || started.elapsed() >= max {
                return self.received.lock().expect("sink").iter().map(|(_, d)| d.clone()).collect();
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
