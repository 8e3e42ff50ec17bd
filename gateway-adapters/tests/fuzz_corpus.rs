//! Runs the fuzz targets' bodies over the checked-in corpus in `fuzz/corpus/`, so every seed and
//! every crash found by `cargo fuzz` stays a regression test on stable Rust.

use std::path::Path;

use hotline_gateway_adapters::fuzzing::{self, InvariantBroken};

fn run_corpus(target: &str, body: fn(&[u8]) -> Result<(), InvariantBroken>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        if let Err(broken) = body(&data) {
            panic!("{}: {broken}", path.display());
        }
        inputs += 1;
    }
    assert!(inputs >= 5, "only {inputs} inputs in {}", dir.display());
}

#[test]
fn hep_decode_corpus_holds() {
    run_corpus("hep_decode", fuzzing::hep_decode);
}

#[test]
fn sip_parse_corpus_holds() {
    run_corpus("sip_parse", fuzzing::sip_parse);
}
