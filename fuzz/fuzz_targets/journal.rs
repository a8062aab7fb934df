#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| syncbatch::fuzzing::journal(data));
