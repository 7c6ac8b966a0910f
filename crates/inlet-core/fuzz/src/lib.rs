//! What the fuzz targets share: each target hands its bytes to one of these
//! and states its name or key, which picks the archive kind or the pipeline.
//! A panic, a sanitizer report or a file written outside the work folder is
//! a finding; an error is the right answer to a bad input.

use std::path::Path;

use inlet_core::archive::{self, ArchiveKind, ArchiveLimits};
use inlet_core::pipeline::Pipeline;

/// Expands `bytes` as the archive `name` names, in a fresh folder.
pub fn expand(name: &str, bytes: &[u8]) {
    let (kind, _) = ArchiveKind::detect(name).expect("the target names an archive");
    let work = tempfile::tempdir().expect("a temporary folder");
    let source = work.path().join("source");
    std::fs::write(&source, bytes).expect("the input is written");
    let out = work.path().join("out");
    std::fs::create_dir(&out).expect("the output folder is made");
    // Smaller than the default, so a bomb is refused before it fills the disk.
    let limits = ArchiveLimits { max_total_bytes: 64 << 20, ..ArchiveLimits::default() };
    if let Ok(expansion) = archive::expand(kind, name, &source, &out, limits) {
        for member in &expansion.members {
            assert!(member.file.starts_with(&out), "{:?} was written outside {out:?}", member.file);
        }
    }
    assert_only(work.path(), &["source", "out"]);
}

fn assert_only(folder: &Path, expected: &[&str]) {
    for entry in std::fs::read_dir(folder).expect("the work folder is readable") {
        let name = entry.expect("an entry").file_name();
        assert!(expected.iter().any(|e| name == *e), "{name:?} was written beside the work folder");
    }
}

/// Loads `bytes` as a pipeline definition.
pub fn load_pipeline(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Err(errors) = Pipeline::from_yaml("fuzzed.yaml", text) {
        assert!(!errors.to_string().is_empty(), "an error says what is wrong");
    }
}

/// Reads `bytes` as the object `key`, with the embedded pipeline that claims
/// it, to the end or the first error.
#[cfg(feature = "readers")]
pub fn read(key: &str, bytes: &[u8]) {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};

    use arrow_array::Array;
    use inlet_core::convert::read::{self, ReadContext};
    use inlet_core::pipeline::PipelineSet;

    type Routed = (Arc<Pipeline>, Vec<(String, String)>);
    // Compiling the embedded pipelines takes longer than most inputs do.
    static ROUTES: LazyLock<Mutex<HashMap<String, Routed>>> = LazyLock::new(Mutex::default);
    let (pipeline, captures) = ROUTES
        .lock()
        .expect("no target panics while holding the routes")
        .entry(key.to_owned())
        .or_insert_with(|| {
            let pipelines = PipelineSet::embedded().expect("the embedded pipelines compile");
            let route = pipelines.route(key).expect("an embedded pipeline claims the key");
            (route.pipeline.clone(), route.captures.clone())
        })
        .clone();
    let source_uri = format!("s3://input/{key}");
    let context = ReadContext { source_uri: &source_uri, captures: &captures };
    let Ok(mut reader) = read::open(&pipeline, std::io::Cursor::new(bytes), context) else { return };
    while let Ok(Some(batch)) = reader.next_batch() {
        assert_eq!(batch.num_columns(), reader.columns().len(), "a batch has the reader's columns");
        // Each field reads as text: its bounds lie in the batch, on character boundaries.
        (0..batch.num_columns()).for_each(|c| batch.column(c).iter().for_each(drop));
        assert!(batch.lines.windows(2).all(|w| w[0] <= w[1]), "rows come in source order: {:?}", batch.lines);
    }
}
