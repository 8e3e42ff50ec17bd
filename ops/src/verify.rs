//! `hotline verify`: recompute every stream hash in global order, and every signed checkpoint
//! (Merkle root, chain hash, Ed25519 signature by the trusted key); hold the log to the
//! checkpoints its witnesses keep outside the database (a cut-off or rewritten tail); and hold the
//! idempotency table (`commands`) to the command ids the events carry, both ways.

use hotline_commands::seal::CheckpointChecker;
use hotline_commands::store::hash::{ChainVerifier, ChainViolation};
use hotline_commands::store::EventStore;
use hotline_commands::witness::WitnessRecord;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use uuid::Uuid;

/// Events read per page.
const PAGE: u32 = 5_000;

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
    store: &dyn EventStore,
    trusted_key: Option<String>,
    witnessed: Vec<WitnessRecord>,
    progress: bool,
) -> anyhow::Result<Report> {
    let head = store.head().await?;
    let bar = if progress { ProgressBar::new(head) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {msg}").expect("valid template"));
    let started = std::time::Instant::now();
    let mut commands = read_commands(store).await?;
    let command_rows = commands.len() as u64;
    let mut chain = ChainVerifier::default();
    let mut checkpoints = match CheckpointChecker::new(trusted_key).with_witnessed(witnessed) {
        Ok(checker) => checker,
        Err(violation) => {
            let violation = Some(violation.to_string());
            return Ok(Report {
                checked: 0,
                checkpoints: 0,
                witnessed: 0,
                commands: command_rows,
                violation,
                rate: 0.0,
            });
        }
    };
    let report = |chain: &ChainVerifier, checkpoints: &CheckpointChecker, violation: Option<String>| Report {
        checked: chain.checked(),
        checkpoints: checkpoints.checked(),
        witnessed: checkpoints.witnessed_checked(),
        commands: command_rows,
        violation,
        rate: chain.checked() as f64 / started.elapsed().as_secs_f64().max(1e-9),
    };
    // Events whose command id has no row, or a row whose range does not hold them.
    let mut without_row: Vec<(u64, Uuid)> = Vec::new();
    let mut after = 0;
    loop {
        let page = store.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.global_position;
        for event in &page {
            let violation = match chain.check(event) {
                Err(violation) => Some(violation.to_string()),
                Ok(()) => checkpoints.check(event).err().map(|v| v.to_string()),
            };
            if violation.is_some() {
                bar.abandon_with_message("altered");
                return Ok(report(&chain, &checkpoints, violation));
            }
            let command_id = event.metadata.get("command_id").and_then(|c| c.as_str()).and_then(|c| c.parse().ok());
            if let Some(command_id) = command_id {
                let position = event.global_position;
                match commands.get_mut(&command_id) {
                    Some(row)
                        if row.first.is_some_and(|f| f <= position) && row.last.is_some_and(|l| position <= l) =>
                    {
                        row.seen = true;
                    }
                    _ => without_row.push((position, command_id)),
                }
            }
        }
        bar.set_position(chain.checked());
    }
    // Events after the last one read would be missing events at the end (a truncated tail).
    if chain.checked() < head {
        let violation = ChainViolation::PositionGap { previous: chain.checked(), found: head };
        return Ok(report(&chain, &checkpoints, Some(violation.to_string())));
    }
    if let Err(violation) = checkpoints.finish(after) {
        bar.abandon_with_message("cut off");
        return Ok(report(&chain, &checkpoints, Some(violation.to_string())));
    }
    if let Some(violation) = idempotency_violation(&without_row, &commands) {
        bar.abandon_with_message("idempotency table altered");
        return Ok(report(&chain, &checkpoints, Some(violation)));
    }
    bar.finish_with_message("ok");
    Ok(report(&chain, &checkpoints, None))
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
