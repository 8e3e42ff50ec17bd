//! `hotline verify`: recompute every stream hash in global order, and every signed checkpoint
//! (Merkle root, chain hash, Ed25519 signature by the trusted key).

use hotline_commands::seal::CheckpointChecker;
use hotline_commands::store::hash::{ChainVerifier, ChainViolation};
use hotline_commands::store::EventStore;
use indicatif::{ProgressBar, ProgressStyle};

/// Events read per page.
const PAGE: u32 = 5_000;

/// What verification found.
#[derive(Debug)]
pub struct Report {
    /// Events that verified before the first violation (or all of them).
    pub checked: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// The first violation, if any.
    pub violation: Option<String>,
    /// Events per second.
    pub rate: f64,
}

/// Verifies the whole log; checkpoints must be signed by `trusted_key` (hex) when given;
/// `progress` shows a bar on a terminal.
pub async fn verify(store: &dyn EventStore, trusted_key: Option<String>, progress: bool) -> anyhow::Result<Report> {
    let head = store.head().await?;
    let bar = if progress { ProgressBar::new(head) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {msg}").expect("valid template"));
    let started = std::time::Instant::now();
    let mut chain = ChainVerifier::default();
    let mut checkpoints = CheckpointChecker::new(trusted_key);
    let report = |chain: &ChainVerifier, checkpoints: &CheckpointChecker, violation: Option<String>| Report {
        checked: chain.checked(),
        checkpoints: checkpoints.checked(),
        violation,
        rate: chain.checked() as f64 / started.elapsed().as_secs_f64().max(1e-9),
    };
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
        }
        bar.set_position(chain.checked());
    }
    // Events after the last one read would be missing events at the end (a truncated tail).
    if chain.checked() < head {
        let violation = ChainViolation::PositionGap { previous: chain.checked(), found: head };
        return Ok(report(&chain, &checkpoints, Some(violation.to_string())));
    }
    bar.finish_with_message("ok");
    Ok(report(&chain, &checkpoints, None))
}
