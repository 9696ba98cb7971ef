#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifecycle::fuzzing::hook_envelope(data));
