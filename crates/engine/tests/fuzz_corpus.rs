//! Replays the committed fuzz corpora (`fuzz/corpus-regression/<target>/`: seeds, and every
//! input that once crashed a target) through the same entry points the fuzz targets call, so
//! that `cargo test` catches a regression without a fuzzer (see `docs/reliability.md`).

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus-regression")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    for file in files {
        let data = std::fs::read(&file).expect("corpus file");
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("{target}: {} fails", file.display());
        }
    }
}

#[test]
fn engine_packet() {
    replay("engine_packet", ferrio_engine::fuzzing::engine_packet);
}

#[test]
fn engine_payload() {
    replay("engine_payload", ferrio_engine::fuzzing::engine_payload);
}

#[test]
fn engine_jsonp_form() {
    replay(
        "engine_jsonp_form",
        ferrio_engine::fuzzing::engine_jsonp_form,
    );
}

#[test]
fn engine_query() {
    replay("engine_query", ferrio_engine::fuzzing::engine_query);
}

#[test]
fn engine_base64() {
    replay("engine_base64", ferrio_engine::fuzzing::engine_base64);
}

#[test]
fn engine_ws() {
    replay("engine_ws", ferrio_engine::fuzzing::ws_frames);
}
