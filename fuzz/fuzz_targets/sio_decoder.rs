//! `sio_decoder`: see `ferrio::parser::fuzzing::sio_decoder` for what it decodes and the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrio::parser::fuzzing::sio_decoder(data));
