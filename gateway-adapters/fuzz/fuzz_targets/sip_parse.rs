//! Fuzzes the SIP normaliser, parser and dialog tracker: no panic, idempotent normalising, and
//! duplicates that yield no signal.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = hotline_gateway_adapters::fuzzing::sip_parse(data) {
        panic!("{broken}");
    }
});
