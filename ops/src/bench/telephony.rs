//! The telephony rows of `hotline bench`, with real peers (the adapter's rig,
//! [`hotline_gateway_adapters::rig`]): SIPp calls through a
//! Kamailio that mirrors every message as HEP3 to the SIP adapter running in process (listener →
//! dialog tracker → [`Ingest`] → the service → a throwaway SQLite log), as in
//! `gateway-adapters/tests/telephony.rs`. The tenant `tj01` routes the dialled number to queue
//! `repair`, binds the agent's extension to seat `s1`, and `agent1` is signed in there.
//!
//! - [`sip_ingestion`]: the highest of rising call rates at which every call lands in the log
//!   exactly once with exactly its four events; baseline: the adapter's raw capacity, the same
//!   kind of calls' captured HEP3 replayed into a fresh listener + ingest as fast as it takes them.
//! - [`screen_pop_latency`]: INVITE → `screenPop` delivered to the signed-in agent; baseline: the
//!   same calls' commands sent straight to the service, commit → `screenPop`.

use super::{percentile, Row};
use anyhow::{bail, ensure, Context};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hotline_commands::clock::SystemClock;
use hotline_commands::handler::CommandContext;
use hotline_commands::store::sqlite::SqliteEventStore;
use hotline_commands::store::{EventStore, RecordedEvent};
use hotline_commands::Hotline;
use hotline_domain::call::{CallAction, CallCommand, CallKey, OfferCall, Party};
use hotline_domain::telephony::{Extension, QueueConfig, QueueId, SeatId, TelephonyCommand};
use hotline_domain::values::{PhoneNumber, TenantId, UserId};
use hotline_gateway_adapters::ingest::Ingest;
use hotline_gateway_adapters::listener::{Inspector, Listener, ListenerConfig, RateLimit};
use hotline_gateway_adapters::rig::{HepSink, Kamailio, Scenario, Sipp, SippRun, SippUas, AGENT, CALLER, DIALLED};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TENANT: &str = "tj01";
/// The signed-in agent whose screen pops are measured.
const AGENT_USER: &str = "agent1";
/// The events of one answered call, each exactly once.
const ANSWERED: [&str; 4] = ["CallOffered", "CallRinging", "CallAnswered", "CallEnded"];
/// The call rates tried, in calls per second.
const RATES: [u32; 5] = [25, 50, 100, 200, 400];
/// Calls per second of the screen-pop row: low, so calls barely overlap.
const POP_RATE: u32 = 5;
/// Kamailio's shared memory, MB: room for the highest call rate's concurrent calls.
const KAMAILIO_SHARED_MEMORY_MB: u32 = 64;

/// The rig's `answered` pair, `(UAC, UAS)`: INVITE, 180, 200 ms later 200 (as extension
/// [`AGENT`]), ACK, 300 ms talk, the caller's BYE.
fn answered() -> anyhow::Result<(Scenario, Scenario)> {
    Ok(Scenario::pair("answered")?)
}

/// A throwaway log with the tenant configured and the agent signed in.
async fn configured_log(dir: &Path) -> anyhow::Result<(Arc<dyn EventStore>, Hotline)> {
    std::fs::create_dir_all(dir)?;
    let store: Arc<dyn EventStore> =
        Arc::new(SqliteEventStore::open(&dir.join("hotline.db"), Arc::new(SystemClock)).await?);
    let hotline = Hotline::new(Arc::clone(&store), Arc::new(SystemClock), "hq");
    let context = |actor: &str| CommandContext::new(actor, "bench", Utc::now());
    let tenant = TenantId(TENANT.into());
    let (queue, seat) = (QueueId("repair".into()), SeatId("s1".into()));
    for command in [
        TelephonyCommand::ConfigureQueue(QueueConfig::new(queue.clone(), "报修专线")),
        TelephonyCommand::RouteNumber { dialled: PhoneNumber(DIALLED.into()), queue },
        TelephonyCommand::DefineSeat { seat: seat.clone(), name_zh: "一号坐席".into() },
        TelephonyCommand::BindPhone { seat: seat.clone(), extension: Extension(AGENT.into()) },
    ] {
        hotline.configure_telephony(&context("admin"), &tenant, &command).await?;
    }
    hotline.sign_in(&context(AGENT_USER), &UserId(AGENT_USER.into()), &tenant, &seat).await?;
    Ok((store, hotline))
}

/// The SIP adapter in process, ingesting into a configured log.
struct Pipeline {
    store: Arc<dyn EventStore>,
    hotline: Hotline,
    hep_port: u16,
    inspector: Inspector,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Pipeline {
    /// A listener on a free port of 127.0.0.1 with its per-source rate limit lifted (the bench
    /// looks for the adapter's ceiling, not the limiter's), and ingestion into a fresh log.
    async fn start(dir: &Path) -> anyhow::Result<Pipeline> {
        let (store, hotline) = configured_log(dir).await?;
        let listener = Listener::bind(ListenerConfig {
            hep_bind: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            rate_limit: RateLimit { per_second: 10_000_000, burst: 10_000_000 },
            ..ListenerConfig::default()
        })
        .await?;
        let hep_port = listener.hep_addr().context("HEP listener address")?.port();
        let inspector = listener.inspector();
        let (sender, signals) = tokio::sync::mpsc::channel(4096);
        let tasks = vec![
            tokio::spawn(listener.run(sender)),
            tokio::spawn(Ingest::new(hotline.clone(), TenantId(TENANT.into())).run(signals)),
        ];
        Ok(Pipeline { store, hotline, hep_port, inspector, tasks })
    }

    /// Waits until the log has not grown for `quiet` (ingestion is done) or `max` has passed;
    /// returns the events after position `after`.
    async fn settled(&self, after: u64, quiet: Duration, max: Duration) -> anyhow::Result<Vec<RecordedEvent>> {
        let started = Instant::now();
        let (mut head, mut since) = (0, Instant::now());
        while started.elapsed() < max {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.store.head().await?;
            if now != head {
                (head, since) = (now, Instant::now());
            } else if since.elapsed() > quiet {
                break;
            }
        }
        Ok(self.store.read_all(after, u32::MAX).await?)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Kamailio mirroring to `hep_port` and a UAS behind it.
struct Peers {
    kamailio: Kamailio,
    _uas: SippUas,
}

async fn start_peers(hep_port: u16) -> anyhow::Result<Peers> {
    tokio::task::spawn_blocking(move || {
        let (_, uas) = answered()?;
        let kamailio = Kamailio::start_with_shared_memory(hep_port, KAMAILIO_SHARED_MEMORY_MB)?;
        let uas = Sipp::uas(&uas, kamailio.uas_port())?;
        anyhow::Ok(Peers { kamailio, _uas: uas })
    })
    .await?
}

/// Runs `calls` answered calls at `rate` through `peers` to completion.
async fn run_calls(target: SocketAddr, calls: u32, rate: u32) -> anyhow::Result<SippRun> {
    let timeout = Duration::from_secs(60 + u64::from(calls / rate.max(1)) * 3);
    let run = tokio::task::spawn_blocking(move || {
        let (uac, _) = answered()?;
        anyhow::Ok(Sipp::uac_with(&uac, target, calls, rate, &[], timeout)?)
    })
    .await??;
    // Kamailio mirrors the last messages after SIPp ends; give them a moment on the wire.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(run)
}

/// The event types of each call stream among `events`.
fn call_streams(events: &[RecordedEvent]) -> BTreeMap<String, Vec<String>> {
    let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in events.iter().filter(|e| e.stream_id.category() == "call") {
        streams.entry(event.stream_id.to_string()).or_default().push(event.event_type.clone());
    }
    streams
}

/// What one step found: `None` when clean, else what went wrong.
fn judge(streams: &BTreeMap<String, Vec<String>>, calls: u32, run: &SippRun) -> Option<String> {
    let mut faults = Vec::new();
    if !run.succeeded(u64::from(calls)) {
        faults.push(format!("SIPp: {} of {calls} calls successful, {} failed", run.stats.successful, run.stats.failed));
    }
    if streams.len() != calls as usize {
        faults.push(format!("{} call streams for {calls} calls", streams.len()));
    }
    let (mut lost, mut duplicated) = (0, 0);
    for types in streams.values() {
        for expected in ANSWERED {
            match types.iter().filter(|t| *t == expected).count() {
                0 => lost += 1,
                1 => {}
                _ => duplicated += 1,
            }
        }
        duplicated += types.iter().filter(|t| !ANSWERED.contains(&t.as_str())).count();
    }
    if lost + duplicated > 0 {
        faults.push(format!("{lost} events missing, {duplicated} duplicated or unexpected"));
    }
    (!faults.is_empty()).then(|| faults.join("; "))
}

/// Datagrams the kernel has dropped on the listener's sockets so far (`None`: not readable here).
fn kernel_drops(inspector: &Inspector) -> Option<u64> {
    inspector.sockets().iter().map(|socket| socket.kernel_drops).sum()
}

/// SIP ingestion at rising call rates: the highest rate at which every call lands in the log
/// exactly once with exactly its four events, beside the adapter's raw capacity.
pub async fn sip_ingestion(dir: &Path, quick: bool) -> anyhow::Result<Row> {
    let pipeline = Pipeline::start(&dir.join("log")).await?;
    let peers = start_peers(pipeline.hep_port).await?;
    let (mut highest, mut total, mut steps) = (0, 0u64, Vec::new());
    for rate in RATES {
        let calls = if quick { 100 } else { (rate * 10).max(1_000) };
        let before = pipeline.store.head().await?;
        let dropped_before = kernel_drops(&pipeline.inspector);
        let run = run_calls(peers.kamailio.addr(), calls, rate).await?;
        let events = pipeline.settled(before, Duration::from_millis(800), Duration::from_secs(120)).await?;
        total += u64::from(calls);
        // What the kernel dropped on the HEP socket in this step (its receive buffer was full).
        let dropped = kernel_drops(&pipeline.inspector).map_or_else(
            || "kernel drops unknown".to_owned(),
            |after| format!("{} datagrams dropped by the kernel", after - dropped_before.unwrap_or(0)),
        );
        match judge(&call_streams(&events), calls, &run) {
            None => {
                highest = rate;
                steps.push(format!(
                    "{rate}/s clean ({calls} calls, SIPp ran {:.1} s, {dropped})",
                    run.elapsed.as_secs_f64()
                ));
            }
            Some(fault) => {
                steps.push(format!("{rate}/s NOT clean ({calls} calls: {fault}; {dropped})"));
                break;
            }
        }
    }
    let stats = pipeline.inspector.stats();
    drop(peers);
    drop(pipeline);
    let replayed = if quick { 100 } else { 1_000 };
    let (baseline_rate, replay_note) = replay_capacity(dir, replayed).await?;
    let note = format!(
        "steps: {}{}. Listener rate limit lifted (default 2,000 datagrams/s per source); listener: {} datagrams, \
         {} rate-limited, {} unparseable. Baseline: the adapter's raw capacity — {replay_note}.{}",
        steps.join(", "),
        if highest == RATES[RATES.len() - 1] {
            " (every step clean: the figure is the highest step tried)"
        } else {
            ""
        },
        stats.received,
        stats.rate_limited,
        stats.unparseable_sip,
        if quick {
            " Quick: 100 calls per step fit the ingest queue, so a backlog shows as delay, not loss."
        } else {
            ""
        }
    );
    Ok(Row {
        name: format!(
            "SIP via Kamailio + HEP3: highest clean call rate of {} calls/s (calls/s)",
            RATES.map(|r| r.to_string()).join("/")
        ),
        rate: f64::from(highest),
        p50_ms: None,
        p99_ms: None,
        baseline: "adapter raw capacity: captured HEP3 of the same calls replayed into a fresh listener + ingest"
            .into(),
        baseline_rate,
        operations: total,
        note: Some(note),
    })
}

/// Captures the HEP3 of `calls` answered calls (Kamailio mirroring to a plain UDP sink), then
/// replays them into a fresh listener + ingest as fast as it takes them (at most a few dozen
/// datagrams ahead of what it has received, so the socket buffer never overflows) and times until
/// every call's four events are in the log. Returns calls/s and a note.
async fn replay_capacity(dir: &Path, calls: u32) -> anyhow::Result<(f64, String)> {
    const WINDOW: u64 = 48;
    let capture_rate = 100;
    let datagrams = {
        tokio::task::spawn_blocking(move || {
            let (uac, uas) = answered()?;
            let sink = HepSink::start()?;
            let kamailio = Kamailio::start_with_shared_memory(sink.port(), KAMAILIO_SHARED_MEMORY_MB)?;
            let _uas: SippUas = Sipp::uas(&uas, kamailio.uas_port())?;
            let run = Sipp::uac_with(&uac, kamailio.addr(), calls, capture_rate, &[], Duration::from_secs(120))?;
            run.check_success(u64::from(calls)).context("capture run")?;
            anyhow::Ok(sink.settle(Duration::from_millis(400), Duration::from_secs(10)))
        })
        .await??
    };
    let pipeline = Pipeline::start(&dir.join("replay")).await?;
    let before = pipeline.store.head().await?;
    let expected = before + 4 * u64::from(calls);
    let socket = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, pipeline.hep_port));
    let started = Instant::now();
    for (sent, datagram) in (0u64..).zip(&datagrams) {
        while sent >= pipeline.inspector.stats().received + WINDOW {
            tokio::time::sleep(Duration::from_micros(200)).await;
            ensure!(started.elapsed() < Duration::from_secs(120), "replay stalled");
        }
        socket.send_to(datagram, target).await?;
    }
    while pipeline.store.head().await? < expected {
        ensure!(started.elapsed() < Duration::from_secs(120), "replay: the log did not reach {expected}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    let events = pipeline.settled(before, Duration::from_millis(300), Duration::from_secs(10)).await?;
    let streams = call_streams(&events);
    let clean = streams.len() == calls as usize && streams.values().all(|types| types.as_slice() == ANSWERED);
    ensure!(clean, "replay: {} call streams for {calls} calls, or not exactly their four events", streams.len());
    let rate = f64::from(calls) / elapsed.as_secs_f64();
    let note = format!(
        "{} HEP3 datagrams of {calls} answered calls (captured at {capture_rate} calls/s through a plain UDP sink) \
         replayed into a fresh listener + ingest, at most {WINDOW} ahead of what it had received; timed until all \
         {} call events were in the log",
        datagrams.len(),
        4 * calls
    );
    Ok((rate, note))
}

/// One screen pop as the subscriber saw it: the call, its `offeredAt` and when the pop arrived.
struct Pop {
    call: String,
    offered_at: DateTime<Utc>,
    arrived: DateTime<Utc>,
}

/// The read side and the schema over `store`, and `agent1` subscribed to `screenPop`: yields the
/// `CallRinging` pops as they arrive.
async fn subscribe_agent(
    dir: &Path,
    store: &Arc<dyn EventStore>,
    hotline: &Hotline,
) -> anyhow::Result<(tokio::sync::mpsc::UnboundedReceiver<Pop>, Vec<tokio::task::JoinHandle<()>>)> {
    let read = hotline_projections::store::ReadStore::open_sqlite(&dir.join("readmodels.db")).await?;
    let runner = Arc::new(hotline_projections::runner::Runner::new(
        Arc::clone(store),
        read,
        hotline_projections::all_projections(),
    ));
    let mut tasks = runner.spawn();
    let schema = hotline_graphql::build_schema(hotline_graphql::schema::Api { hotline: hotline.clone(), runner });
    let caller = hotline_graphql::auth::Caller::from_claims(hotline_graphql::auth::Claims {
        sub: AGENT_USER.into(),
        tenant: Some(TENANT.into()),
        org_path: format!("/hq/{TENANT}"),
        roles: vec!["agent".into()],
        exp: i64::MAX,
    })?;
    let request = async_graphql::Request::new("subscription { screenPop { trigger call { id offeredAt } } }")
        .data(Ok::<_, hotline_graphql::auth::AuthError>(caller));
    let mut stream = schema.execute_stream(request);
    let (sender, pops) = tokio::sync::mpsc::unbounded_channel();
    tasks.push(tokio::spawn(async move {
        while let Some(response) = stream.next().await {
            let arrived = Utc::now();
            if !response.errors.is_empty() {
                tracing::warn!(errors = ?response.errors, "bench: screenPop error");
                continue;
            }
            let Ok(data) = response.data.into_json() else { continue };
            let pop = &data["screenPop"];
            if pop["trigger"] != "CallRinging" {
                continue;
            }
            let offered_at = pop["call"]["offeredAt"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            let (Some(call), Some(offered_at)) = (pop["call"]["id"].as_str(), offered_at) else { continue };
            let pop = Pop { call: call.to_owned(), offered_at: offered_at.with_timezone(&Utc), arrived };
            if sender.send(pop).is_err() {
                return;
            }
        }
    }));
    // The first poll runs the resolver, which subscribes to the live feed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok((pops, tasks))
}

/// SIPp INVITE → `screenPop` delivered to the signed-in agent, beside the same path with no SIP.
pub async fn screen_pop_latency(dir: &Path, quick: bool) -> anyhow::Result<Row> {
    let calls: u32 = if quick { 20 } else { 200 };
    let pipeline = Pipeline::start(&dir.join("sip")).await?;
    let (mut pops, tasks) = subscribe_agent(&dir.join("sip"), &pipeline.store, &pipeline.hotline).await?;
    let peers = start_peers(pipeline.hep_port).await?;
    let started = Instant::now();
    let run = run_calls(peers.kamailio.addr(), calls, POP_RATE).await?;
    run.check_success(u64::from(calls)).context("screen-pop calls")?;
    let mut latencies = Vec::new();
    while latencies.len() < calls as usize {
        let pop = tokio::time::timeout(Duration::from_secs(30), pops.recv())
            .await
            .with_context(|| format!("{} of {calls} screen pops", latencies.len()))?
            .context("subscriber gone")?;
        latencies.push((pop.arrived - pop.offered_at).to_std().unwrap_or_default());
    }
    let elapsed = started.elapsed();
    drop(peers);
    for task in tasks {
        task.abort();
    }
    drop(pipeline);
    latencies.sort();
    let (baseline, baseline_elapsed) = direct_screen_pops(&dir.join("direct"), calls).await?;
    Ok(Row {
        name: format!("SIPp INVITE → screenPop delivered to the agent ({POP_RATE} calls/s; pops/s)"),
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: Some(percentile(&latencies, 0.5)),
        p99_ms: Some(percentile(&latencies, 0.99)),
        baseline: format!(
            "no SIP: the call's commands sent straight to the service, offer → screenPop (p50 {:.2} ms, p99 {:.2} ms)",
            percentile(&baseline, 0.5),
            percentile(&baseline, 0.99)
        ),
        baseline_rate: baseline.len() as f64 / baseline_elapsed.as_secs_f64(),
        operations: latencies.len() as u64,
        note: Some(format!(
            "Send time = the HEP3 capture timestamp of the INVITE as Kamailio received it from SIPp (its first mirror \
             copy; the call's CallOffered `at`, shown as screenPop.call.offeredAt), arrival = wall clock when the \
             subscriber got the CallRinging pop; same host clock. The pop follows the UAS's 180 through Kamailio, so \
             it includes the SIP round trip. Baseline: offer + ring (with the same routing and seat look-ups as \
             ingestion) sent to the service one call at a time, {POP_RATE} calls/s, timed from before the offer to \
             the pop."
        )),
    })
}

/// The baseline of [`screen_pop_latency`]: each call's offer and ring sent straight to the
/// service at the same pace, timed from before the offer to the agent's `CallRinging` pop; then
/// answered and ended.
async fn direct_screen_pops(dir: &Path, calls: u32) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let (store, hotline) = configured_log(dir).await?;
    let (mut pops, tasks) = subscribe_agent(dir, &store, &hotline).await?;
    let tenant = TenantId(TENANT.into());
    let context = || CommandContext::new(hotline_gateway_adapters::ingest::ACTOR, "bench", Utc::now());
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / POP_RATE);
    for n in 0..calls {
        tick.tick().await;
        let call_id = format!("{}-bench@127.0.0.1", uuid::Uuid::now_v7().simple());
        let key = CallKey::of(&tenant, &call_id, None);
        let sent = Utc::now();
        let (caller, dialled) = (PhoneNumber(CALLER.into()), PhoneNumber(DIALLED.into()));
        let routing = hotline.telephony_config(&tenant).await?.route(&caller, &dialled);
        let offer =
            OfferCall { call_id: call_id.clone(), tenant: tenant.clone(), caller, dialled, correlation: None, routing };
        let command = |action| CallCommand { at: Utc::now(), action };
        hotline.call(&context(), &tenant, key, &command(CallAction::Offer(offer))).await?;
        let extension = Extension(AGENT.into());
        let (seat, agent) = hotline.seat_of_extension(&tenant, &extension).await?;
        let ring = CallAction::Ring { extension: extension.clone(), seat: seat.clone(), agent: agent.clone() };
        hotline.call(&context(), &tenant, key, &command(ring)).await?;
        let pop = tokio::time::timeout(Duration::from_secs(10), pops.recv())
            .await
            .with_context(|| format!("direct call {n}: no screen pop"))?
            .context("subscriber gone")?;
        if pop.call != key.to_string() {
            bail!("direct call {n}: a pop for {} instead of {key}", pop.call);
        }
        latencies.push((pop.arrived - sent).to_std().unwrap_or_default());
        hotline.call(&context(), &tenant, key, &command(CallAction::Answer { extension, seat, agent })).await?;
        hotline.call(&context(), &tenant, key, &command(CallAction::End { by: Party::Caller })).await?;
    }
    let elapsed = started.elapsed();
    for task in tasks {
        task.abort();
    }
    latencies.sort();
    Ok((latencies, elapsed))
}
