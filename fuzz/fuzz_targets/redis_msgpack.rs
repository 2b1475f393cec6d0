//! `redis_msgpack`: see `ferrio_redis::fuzzing::redis_msgpack` for what it decodes and the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrio_redis::fuzzing::redis_msgpack(data));
