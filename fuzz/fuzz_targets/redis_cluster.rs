//! `redis_cluster`: see `ferrio_redis::fuzzing::redis_cluster` for what it decodes and the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrio_redis::fuzzing::redis_cluster(data));
