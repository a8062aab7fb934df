//! Replays every committed fuzz corpus on stable, so CI runs what the fuzzers found.

use std::fs;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            panic!("{} fails: {panic:?}", path.display());
        }
        count += 1;
    }
    assert!(count > 0, "the corpus {} is empty", dir.display());
}

#[test]
fn frame_corpus() {
    replay("frame", syncbatch::fuzzing::frame);
}

#[cfg(feature = "async")]
#[test]
fn decode_corpus() {
    replay("decode", syncbatch::fuzzing::decode);
}

#[test]
fn validate_corpus() {
    replay("validate", syncbatch::fuzzing::validate);
}

#[test]
fn split_corpus() {
    replay("split", syncbatch::fuzzing::split);
}

#[test]
fn merge_corpus() {
    replay("merge", syncbatch::fuzzing::merge);
}

#[test]
fn api_corpus() {
    replay("api", syncbatch::fuzzing::api);
}

#[test]
fn render_corpus() {
    replay("render", syncbatch::fuzzing::render);
}

#[cfg(feature = "client")]
#[test]
fn answers_corpus() {
    replay("answers", syncbatch::fuzzing::answers);
}

#[test]
fn journal_corpus() {
    replay("journal", syncbatch::fuzzing::journal);
}
