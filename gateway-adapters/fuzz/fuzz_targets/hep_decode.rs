//! Fuzzes the HEP3 decoder: it must never panic, and what it decodes must round-trip.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = hotline_gateway_adapters::fuzzing::hep_decode(data) {
        panic!("{broken}");
    }
});
