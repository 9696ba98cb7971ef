#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lifecycle::fuzzing::actions_request(data));
