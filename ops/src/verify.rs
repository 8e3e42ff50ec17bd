//! `hotline verify`: recompute every stream hash in global order.

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
    /// The first violation, if any.
    pub violation: Option<ChainViolation>,
    /// Events per second.
    pub rate: f64,
}

/// Verifies the whole log; `progress` shows a bar on a terminal.
pub async fn verify(store: &dyn EventStore, progress: bool) -> anyhow::Result<Report> {
    let head = store.head().await?;
    let bar = if progress { ProgressBar::new(head) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} {msg}").expect("valid template"));
    let started = std::time::Instant::now();
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.read_all(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.global_position;
        for event in &page {
            if let Err(violation) = verifier.check(event) {
                bar.abandon_with_message("altered");
                return Ok(Report {
                    checked: verifier.checked(),
                    violation: Some(violation),
                    rate: rate(&verifier, started),
                });
            }
        }
        bar.set_position(verifier.checked());
    }
    // Events after the last one read would be missing events at the end (a truncated tail).
    if verifier.checked() < head {
        let violation = ChainViolation::PositionGap { previous: verifier.checked(), found: head };
        return Ok(Report { checked: verifier.checked(), violation: Some(violation), rate: rate(&verifier, started) });
    }
    bar.finish_with_message("ok");
    Ok(Report { checked: verifier.checked(), violation: None, rate: rate(&verifier, started) })
}

fn rate(verifier: &ChainVerifier, started: std::time::Instant) -> f64 {
    verifier.checked() as f64 / started.elapsed().as_secs_f64().max(1e-9)
}
