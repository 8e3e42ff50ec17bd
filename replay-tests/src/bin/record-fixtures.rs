//! Records every scenario of `hotline_replay_tests::scenarios` as a fixture under `fixtures/`, or
//! only the scenarios named as arguments. Fixtures are committed and reviewed like code; re-record
//! only to add a scenario (name it), never to rewrite a released one.

use hotline_replay_tests::scenarios::{fixture_line, record, SCENARIOS, TELEPHONY_SCENARIOS};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(record_all())
}

async fn record_all() -> Result<(), Box<dyn std::error::Error>> {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let every = SCENARIOS.iter().chain(&TELEPHONY_SCENARIOS);
    for name in every.filter(|n| only.is_empty() || only.iter().any(|o| o == *n)) {
        let events = record(name).await?;
        let path = hotline_replay_tests::fixtures_dir().join(format!("{name}.jsonl"));
        let mut file = std::fs::File::create(&path)?;
        writeln!(file, "# Recorded by record-fixtures: scenario {name}.")?;
        for event in &events {
            writeln!(file, "{}", fixture_line(event))?;
        }
        println!("{name}: {} events", events.len());
    }
    Ok(())
}
