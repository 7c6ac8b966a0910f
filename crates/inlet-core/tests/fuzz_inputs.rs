//! Property-based fuzzing of everything that reads untrusted bytes: every
//! reader, the archive expander and pipeline YAML. Inputs are the real
//! samples under `data/`, mutated (bytes flipped, inserted, removed, the
//! file cut short or spliced), and plain random bytes. Whatever the input,
//! a reader yields batches or an error, the expander members or an error,
//! and the YAML loader a pipeline or an error: nothing panics, and nothing
//! is written outside the expander's work folder.
//!
//! Bounded in count (`FUZZ_CASES`, default 256 per target) so the suite's
//! time stays fixed; `FUZZ_CASES=100000 cargo test --release --test
//! fuzz_inputs` runs a longer campaign.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use inlet_core::archive::{self, ArchiveKind, ArchiveLimits};
use inlet_core::convert::read::{self, ReadContext};
use inlet_core::pipeline::{Pipeline, PipelineSet};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256)
}

fn sample(relative: &str) -> Vec<u8> {
    std::fs::read(repo().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// One edit to a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
    Repeat(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to the formats more often than the others.
    let byte = prop_oneof![any::<u8>(), prop::sample::select(b",\"\n\r\t <>/&;{}[]:\\0 .-eE9".to_vec())];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Flip(at, b)),
        (any::<usize>(), prop::collection::vec(byte, 1..16)).prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<usize>(), 1..64usize).prop_map(|(at, n)| Edit::Remove(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1..256usize, 1..8usize).prop_map(|(at, n, times)| Edit::Repeat(at, n, times)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len().max(1);
        match edit {
            Edit::Flip(at, b) if !bytes.is_empty() => bytes[at % len] = *b,
            Edit::Insert(at, new) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Edit::Remove(at, n) if !bytes.is_empty() => {
                let at = at % len;
                bytes.drain(at..(at + n).min(bytes.len()));
            }
            Edit::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
            Edit::Repeat(at, n, times) if !bytes.is_empty() => {
                let at = at % len;
                let piece: Vec<u8> = bytes[at..(at + n).min(bytes.len())].to_vec();
                for _ in 0..*times {
                    bytes.splice(at..at, piece.iter().copied());
                }
            }
            _ => {}
        }
    }
    bytes
}

/// A sample with a few edits, or random bytes.
fn input_from(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(edit(), 0..8).prop_map(move |edits| apply(seed.clone(), &edits)),
        1 => prop::collection::vec(any::<u8>(), 0..2048),
    ]
}

fn run(name: &str, strategy: impl Strategy<Value = Vec<u8>>, check: impl Fn(&[u8])) {
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    if let Err(failure) = runner.run(&strategy, |input| {
        check(&input);
        Ok(())
    }) {
        panic!("{name}: {failure}");
    }
}

/// Reads every batch; an error ends the file, as it would fail it.
fn read_all(pipeline: &Pipeline, key: &str, input: &[u8], captures: &[(String, String)]) {
    let source_uri = format!("s3://input/{key}");
    let context = ReadContext { source_uri: &source_uri, captures };
    let Ok(mut reader) = read::open(pipeline, Cursor::new(input.to_vec()), context) else { return };
    let columns = reader.columns().len();
    while let Ok(Some(batch)) = reader.next_batch() {
        assert_eq!(batch.num_columns(), columns, "a batch has the reader's columns");
        // Each field reads as text: its bounds lie in the batch, on character boundaries.
        (0..batch.num_columns()).for_each(|c| batch.column(c).iter().for_each(drop));
        let mut lines = batch.lines.clone();
        lines.dedup();
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "rows come in source order: {:?}", batch.lines);
    }
}

fn reader_target(sample_path: &str, key: &str) {
    let pipelines = PipelineSet::embedded().unwrap();
    let route = pipelines.route(key).unwrap_or_else(|e| panic!("{key}: {e}"));
    let captures: Vec<(String, String)> = route.captures.clone();
    let pipeline = route.pipeline.clone();
    run(key, input_from(sample(sample_path)), |input| read_all(&pipeline, key, input, &captures));
}

#[test]
fn the_csv_reader_survives_any_bytes() {
    reader_target("data/asx_eod_20201201.csv", "in/asx_eod_20201201.csv");
}

#[test]
fn the_csv_reader_with_a_header_survives_any_bytes() {
    let wind = "2021-01-15 00:00:00,5.79,70\n".repeat(20);
    let body = format!("DataTimeStamp,\"Horizontal Speed (m/s)\",Horizontal Direction (deg)\n{wind}");
    let key = "in/buoy.z05.00.20210115.000000.wind.csv";
    let pipelines = PipelineSet::embedded().unwrap();
    let route = pipelines.route(key).unwrap();
    run(key, input_from(body.into_bytes()), |input| read_all(&route.pipeline, key, input, &route.captures));
}

#[test]
fn the_grid_reader_survives_any_bytes() {
    reader_target("data/solar_dni_20240115_03UT.txt", "in/solar_dni_20240115_03UT.txt");
}

#[test]
fn the_json_lines_reader_survives_any_bytes() {
    reader_target("data/cyi/air_quality/2024-01-15/export.jsonl", "in/cyi/air_quality/2024-01-15/export.jsonl");
}

#[test]
fn the_xml_reader_survives_any_bytes() {
    let notice = first_tar_member(&sample("data/ted/20240102_001.tar.gz"));
    let key = "in/ted/000001_2024.xml";
    let pipelines = PipelineSet::embedded().unwrap();
    let route = pipelines.route(key).unwrap();
    run(key, input_from(notice), |input| read_all(&route.pipeline, key, input, &route.captures));
}

fn first_tar_member(tar_gz: &[u8]) -> Vec<u8> {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("notices.tar.gz");
    std::fs::write(&source, tar_gz).unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let expansion = archive::expand(ArchiveKind::TarGz, "notices.tar.gz", &source, &out, ArchiveLimits::default()).unwrap();
    let mut members = expansion.members;
    members.sort_by(|a, b| a.path.cmp(&b.path));
    std::fs::read(&members[0].file).unwrap()
}

fn expander_target(sample_path: &str, name: &str) {
    let (kind, _) = ArchiveKind::detect(name).unwrap();
    let limits = ArchiveLimits { max_total_bytes: 64 << 20, ..ArchiveLimits::default() };
    let expanded = std::sync::atomic::AtomicUsize::new(0);
    run(name, input_from(sample(sample_path)), |input| {
        let work = tempfile::tempdir().unwrap();
        let source = work.path().join("source");
        std::fs::write(&source, input).unwrap();
        let out = work.path().join("out");
        std::fs::create_dir(&out).unwrap();
        if let Ok(expansion) = archive::expand(kind, name, &source, &out, limits) {
            expanded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for member in &expansion.members {
                assert!(member.file.starts_with(&out), "{:?} was written outside {out:?}", member.file);
            }
        }
        let outside: Vec<_> =
            std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "source" && n != "out").collect();
        assert!(outside.is_empty(), "written beside the work folder: {outside:?}");
    });
    // Some edits leave the archive readable (a flipped byte of a stored
    // name, say): the fuzzing reached the members, not just the first check.
    assert!(expanded.into_inner() > 0, "{name}: no mutated archive expanded at all");
}

#[test]
fn the_zip_expander_survives_any_bytes() {
    expander_target("data/buoy.z05.00.20210115.000000.zip", "buoy.zip");
}

#[test]
fn the_tar_gz_expander_survives_any_bytes() {
    expander_target("data/buoy.z06.00.20210115.000000.tar.gz", "buoy.tar.gz");
}

#[test]
fn pipeline_yaml_loading_survives_any_text() {
    let definitions: Vec<Vec<u8>> = ["asx_eod", "a2e_buoy_ingest", "bom_radiation", "cyi_exports", "ted_notices"]
        .iter()
        .map(|name| sample(&format!("pipelines/{name}/pipeline.yaml")))
        .collect();
    let strategy = prop::sample::select(definitions).prop_flat_map(input_from);
    run("pipeline.yaml", strategy, |input| {
        let text = String::from_utf8_lossy(input);
        if let Err(errors) = Pipeline::from_yaml("fuzzed.yaml", &text) {
            assert!(!errors.to_string().is_empty(), "an error says what is wrong");
        }
    });
}
