//! The committed templates and configurations are exactly what synth produces.

use std::path::Path;

#[test]
fn committed_files_equal_synth() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stale = infra::stale_files(&root);
    assert!(stale.is_empty(), "{} out of date; run `cargo run -p infra -- synth` and commit the result: {stale:?}", stale.len());
}

#[test]
fn synth_is_deterministic() {
    assert_eq!(infra::stacks::app().synth(), infra::stacks::app().synth());
}
