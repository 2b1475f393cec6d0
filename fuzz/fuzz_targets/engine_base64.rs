//! `engine_base64`: see `ferrio_engine::fuzzing::engine_base64` for what it decodes and the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrio_engine::fuzzing::engine_base64(data));
