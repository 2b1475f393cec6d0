//! `engine_ws`: see `ferrio_engine::fuzzing::ws_frames` for what it decodes and the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrio_engine::fuzzing::ws_frames(data));
