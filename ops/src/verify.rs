//! `hotline verify`: recompute every stream hash in global order, and every signed checkpoint
//! (Merkle root, chain hash, Ed25519 signature by the trusted key); hold the log to the
//! checkpoints its witnesses keep outside the database (a cut-off or rewritten tail); and hold the
//! idempotency table (`commands`) to the command ids the events carry, both ways.
//!
//! The log is read in pages by the async caller and handed over a bounded channel to a checking
//! thread, so at most [`PAGES_AHEAD`] pages are in memory, never the whole log. The checking
//! thread checks each page in three steps:
//! 1. order, in global order: every position follows the last, every stream version follows its
//!    stream's last ([`ChainVerifier::link`]), which hands each event the stored hash it chains
//!    from;
//! 2. content, on every core: each event's SHA-256 over its stored bytes
//!    ([`Recomputer::check_stored`]: the columns are read as text and hashed as they are, never
//!    parsed). With its predecessor's stored hash in hand an event needs nothing else, so the page
//!    is cut into one contiguous part per core, whatever the streams (one long stream splits as
//!    well as many short ones);
//! 3. checkpoints and idempotency rows, in global order, up to the first event that failed step 1
//!    or 2 ([`CheckpointChecker`], whose memory is bounded).
//!
//! The report is the same as one event at a time would give: the violation at the lowest
//! position (for one event, its chain before its checkpoint), and the events that verified before
//! it.

use hotline_commands::seal::CheckpointChecker;
use hotline_commands::store::hash::{ChainVerifier, ChainViolation, Recomputer};
use hotline_commands::store::{EventStore, StoredEvent};
use hotline_commands::witness::WitnessRecord;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Events read per page.
const PAGE: u32 = 2_000;

/// Pages read ahead of the checking thread, at most: with [`PAGE`], what bounds the events in
/// memory.
const PAGES_AHEAD: usize = 2;

/// Pages being read at once, each in its own task (so pages are decoded on every core).
const READS_IN_FLIGHT: usize = 2;

/// Below this many events a page is hashed on the checking thread alone: a thread costs more.
const PARALLEL_FROM: usize = 256;

/// Command ids named in a report, at most.
const NAMED: usize = 10;

/// What verification found.
#[derive(Debug)]
pub struct Report {
    /// Events that verified before the first violation (or all of them).
    pub checked: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// Witnessed checkpoints the log was found to hold.
    pub witnessed: u64,
    /// Rows of the idempotency table checked against the events.
    pub commands: u64,
    /// The first violation, if any.
    pub violation: Option<String>,
    /// Events per second.
    pub rate: f64,
}

/// A row of `commands`, and whether an event carrying its id was found in its range.
struct CommandRow {
    first: Option<u64>,
    last: Option<u64>,
    seen: bool,
}

/// Verifies the whole log; checkpoints (in the log and `witnessed`) must be signed by
/// `trusted_key` (hex) when given; `progress` shows a bar on a terminal.
pub async fn verify(
    store: Arc<dyn EventStore>,
    trusted_key: Option<String>,
    witnessed: Vec<WitnessRecord>,
    progress: bool,
) -> anyhow::Result<Report> {
    let head = store.head().await?;
    let bar = if progress { ProgressBar::new(head) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {msg}").expect("valid template"));
    let started = std::time::Instant::now();
    let checkpoints = match CheckpointChecker::new(trusted_key).with_witnessed(witnessed) {
        Ok(checker) => checker,
        Err(violation) => {
            let commands = read_commands(store.as_ref()).await?;
            return Ok(Report {
                checked: 0,
                checkpoints: 0,
                witnessed: 0,
                commands: commands.len() as u64,
                violation: Some(violation.to_string()),
                rate: 0.0,
            });
        }
    };
    // The first pages are read while the idempotency table is.
    let (pages, mut received) = mpsc::channel::<Vec<StoredEvent>>(PAGES_AHEAD);
    let reading = tokio::spawn(read_pages(Arc::clone(&store), pages));
    let commands = read_commands(store.as_ref()).await?;
    let command_rows = commands.len() as u64;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut checker = Checker {
        chain: ChainVerifier::default(),
        recomputers: (0..threads).map(|_| Recomputer::default()).collect(),
        checkpoints,
        commands,
        without_row: Vec::new(),
        checked: 0,
        last_position: 0,
        bar: bar.clone(),
    };
    let checking = tokio::task::spawn_blocking(move || {
        while let Some(page) = received.blocking_recv() {
            if let Some(violation) = checker.page(&page) {
                return (checker, Some(violation));
            }
        }
        (checker, None)
    });
    let read = reading.await?;
    let (checker, violation) = checking.await?;
    let report = |checker: &Checker, violation: Option<String>| Report {
        checked: checker.checked,
        checkpoints: checker.checkpoints.checked(),
        witnessed: checker.checkpoints.witnessed_checked(),
        commands: command_rows,
        violation,
        rate: checker.checked as f64 / started.elapsed().as_secs_f64().max(1e-9),
    };
    // A violation before a page that could not be read is the first thing wrong, as it would be
    // reading one page at a time.
    if violation.is_some() {
        bar.abandon_with_message("altered");
        return Ok(report(&checker, violation));
    }
    read?;
    // Events after the last one read would be missing events at the end (a truncated tail).
    if checker.checked < head {
        let violation = ChainViolation::PositionGap { previous: checker.checked, found: head };
        return Ok(report(&checker, Some(violation.to_string())));
    }
    if let Err(violation) = checker.checkpoints.finish(checker.last_position) {
        bar.abandon_with_message("cut off");
        return Ok(report(&checker, Some(violation.to_string())));
    }
    if let Some(violation) = idempotency_violation(&checker.without_row, &checker.commands) {
        bar.abandon_with_message("idempotency table altered");
        return Ok(report(&checker, Some(violation)));
    }
    bar.finish_with_message("ok");
    Ok(report(&checker, None))
}

/// Sends the log's pages in order until it ends, or until the checking thread stops at a
/// violation (it drops the receiver). [`READS_IN_FLIGHT`] pages are read at once: each read after
/// the first guesses that the pages before it are full and have no gap, and is used only when
/// they are, so the pages sent are exactly those read one after another.
async fn read_pages(store: Arc<dyn EventStore>, pages: mpsc::Sender<Vec<StoredEvent>>) -> anyhow::Result<()> {
    type Read = JoinHandle<Result<Vec<StoredEvent>, hotline_commands::store::StoreError>>;
    let read = |after: u64| -> Read {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.read_all_stored(after, PAGE).await })
    };
    // The position the next page starts after, and the reads under way with the position each
    // starts after.
    let mut after = 0;
    let mut reads: VecDeque<(u64, Read)> = VecDeque::new();
    loop {
        while reads.len() < READS_IN_FLIGHT {
            let from = reads.back().map_or(after, |(from, _)| from + u64::from(PAGE));
            reads.push_back((from, read(from)));
        }
        let (from, page) = reads.pop_front().expect("reads under way");
        let page = page.await??;
        debug_assert_eq!(from, after);
        let Some(last) = page.last() else { return Ok(()) };
        if last.global_position != from + u64::from(PAGE) {
            // A short page or a gap: the reads after it guessed wrong.
            for (_, guessed) in reads.drain(..) {
                guessed.abort();
            }
        }
        after = last.global_position;
        if pages.send(page).await.is_err() {
            return Ok(());
        }
    }
}

/// What the checking thread holds while the pages go by.
struct Checker {
    chain: ChainVerifier,
    /// One per thread that hashes.
    recomputers: Vec<Recomputer>,
    checkpoints: CheckpointChecker,
    commands: HashMap<Uuid, CommandRow>,
    /// Events whose command id has no row, or a row whose range does not hold them.
    without_row: Vec<(u64, Uuid)>,
    /// Events that verified.
    checked: u64,
    /// The position of the last event read.
    last_position: u64,
    bar: ProgressBar,
}

impl Checker {
    /// Checks the next page of the log; returns the first violation in it.
    fn page(&mut self, page: &[StoredEvent]) -> Option<String> {
        let last = page.last()?;
        self.last_position = last.global_position;
        let mut previous_hashes = Vec::with_capacity(page.len());
        let mut order_violation = None;
        for event in page {
            match self.chain.link(event) {
                Ok(previous_hash) => previous_hashes.push(previous_hash),
                Err(violation) => {
                    order_violation = Some(violation);
                    break;
                }
            }
        }
        let linked = &page[..previous_hashes.len()];
        let (good, chain_violation) = match first_mismatch(&mut self.recomputers, linked, &previous_hashes) {
            Some((index, violation)) => (index, Some(violation)),
            None => (linked.len(), order_violation),
        };
        for event in &page[..good] {
            self.checked += 1;
            if let Err(violation) = self.checkpoints.check(event) {
                return Some(violation.to_string());
            }
            self.hold_to_commands(event);
        }
        self.bar.set_position(self.checked);
        chain_violation.map(|violation| violation.to_string())
    }

    /// Notes the event's command id against the idempotency table.
    fn hold_to_commands(&mut self, event: &StoredEvent) {
        let command_id = command_id(&event.metadata);
        if let Some(command_id) = command_id {
            let position = event.global_position;
            match self.commands.get_mut(&command_id) {
                Some(row) if row.first.is_some_and(|f| f <= position) && row.last.is_some_and(|l| position <= l) => {
                    row.seen = true;
                }
                _ => self.without_row.push((position, command_id)),
            }
        }
    }
}

/// Recomputes the hashes of `events` (each chaining from its `previous_hashes` entry), one
/// contiguous part per recomputer, each on its own thread; returns the first that does not
/// match, by index.
fn first_mismatch(
    recomputers: &mut [Recomputer],
    events: &[StoredEvent],
    previous_hashes: &[Option<String>],
) -> Option<(usize, ChainViolation)> {
    let first_in = |recomputer: &mut Recomputer, events: &[StoredEvent], previous_hashes: &[Option<String>]| {
        events.iter().zip(previous_hashes).enumerate().find_map(|(index, (event, previous_hash))| {
            recomputer.check_stored(previous_hash.as_deref(), event).err().map(|violation| (index, violation))
        })
    };
    if events.len() < PARALLEL_FROM || recomputers.len() < 2 {
        return first_in(&mut recomputers[0], events, previous_hashes);
    }
    let part = events.len().div_ceil(recomputers.len());
    std::thread::scope(|scope| {
        let mut parts = recomputers.iter_mut().zip(events.chunks(part).zip(previous_hashes.chunks(part)));
        let (own, (own_events, own_previous)) = parts.next().expect("at least one part");
        let others: Vec<_> = parts
            .enumerate()
            .map(|(n, (recomputer, (events, previous_hashes)))| {
                let offset = (n + 1) * part;
                scope.spawn(move || {
                    first_in(recomputer, events, previous_hashes).map(|(index, violation)| (offset + index, violation))
                })
            })
            .collect();
        // The parts are in position order: the first part's mismatch is the lowest.
        let own = first_in(own, own_events, own_previous);
        let others: Vec<_> = others.into_iter().map(|other| other.join().expect("a hashing thread panicked")).collect();
        own.or_else(|| others.into_iter().flatten().next())
    })
}

/// The command id in an event's stored metadata, if it carries one (metadata that is not JSON
/// carries none here; its hash has already said it was altered).
fn command_id(metadata: &str) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct CommandId<'a> {
        #[serde(borrow)]
        command_id: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<CommandId<'_>>(metadata).ok()?.command_id?.parse().ok()
}

/// The whole idempotency table, by command id.
async fn read_commands(store: &dyn EventStore) -> anyhow::Result<HashMap<Uuid, CommandRow>> {
    let mut rows = HashMap::new();
    let mut after = None;
    loop {
        let page = store.read_commands(after, PAGE).await?;
        let Some(last) = page.last() else { return Ok(rows) };
        after = Some(last.command_id);
        for record in page {
            rows.insert(
                record.command_id,
                CommandRow { first: record.first_position, last: record.last_position, seen: false },
            );
        }
    }
}

/// Events that carry a command id without its row (re-sending that command would append it
/// again), and rows that name positions where no event carries their id.
fn idempotency_violation(without_row: &[(u64, Uuid)], commands: &HashMap<Uuid, CommandRow>) -> Option<String> {
    let mut problems = Vec::new();
    if !without_row.is_empty() {
        let named: Vec<String> =
            without_row.iter().take(NAMED).map(|(position, id)| format!("{id} (position {position})")).collect();
        problems.push(format!(
            "{} events carry a command id that has no row in the idempotency table (commands), so re-sending \
             those acknowledged commands would append them again: {}{}",
            without_row.len(),
            named.join(", "),
            if without_row.len() > NAMED { ", …" } else { "" }
        ));
    }
    let mut unseen: Vec<(u64, Uuid)> = commands
        .iter()
        .filter(|(_, row)| !row.seen)
        .filter_map(|(id, row)| row.first.map(|first| (first, *id)))
        .collect();
    unseen.sort();
    if !unseen.is_empty() {
        let named: Vec<String> = unseen
            .iter()
            .take(NAMED)
            .map(|(first, id)| {
                let last = commands[id].last.unwrap_or(*first);
                format!("{id} (positions {first}..={last})")
            })
            .collect();
        problems.push(format!(
            "{} rows of the idempotency table (commands) name positions where no event carries their command id: {}{}",
            unseen.len(),
            named.join(", "),
            if unseen.len() > NAMED { ", …" } else { "" }
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}
