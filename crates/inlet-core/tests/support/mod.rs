//! What the engine's integration tests share: a state directory with the
//! local backends (the store behind a fault injector, idle unless a test arms
//! it), the repository's pipelines, and readers of the results.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use inlet_core::catalog::LocalCatalog;
use inlet_core::faults::FaultyStore;
use inlet_core::pipeline::PipelineSet;
use inlet_core::storage::{LocalObjectStore, ObjectLocation, ObjectStore};
use inlet_core::{Engine, EngineConfig, LoadReport, Outcome, Registrar, drive};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Harness {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub engine: Engine,
    pub registrar: Registrar,
    pub store: Arc<FaultyStore>,
    pub catalog: Arc<LocalCatalog>,
}

pub fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    let local: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(root.join("buckets")));
    let store = Arc::new(FaultyStore::new(local));
    let catalog = Arc::new(LocalCatalog::new(root.join("catalog.json")));
    let pipelines = Arc::new(PipelineSet::load_dir(&repo().join("pipelines")).unwrap());
    let config = EngineConfig { scratch_dir: Some(root.join("scratch")), ..EngineConfig::default() };
    let engine = Engine::new(store.clone(), pipelines, config);
    let registrar = Registrar::new(store.clone(), catalog.clone(), "output", "inlet");
    Harness { _dir: dir, root, engine, registrar, store, catalog }
}

impl Harness {
    pub async fn drop_bytes(&self, key: &str, bytes: &[u8]) {
        self.store.put_bytes(&ObjectLocation::new("input", key), bytes.to_vec()).await.unwrap();
    }

    /// Processes `key` and every archive member it yields, and registers
    /// what was written, as the unzip, pipeline-runner and partitioner do.
    pub async fn run(&self, key: &str) -> Vec<Outcome> {
        let processed = drive::process_keys(&self.engine, &self.registrar, vec![key.to_owned()], 2, &drive::Silent).await;
        for p in &processed {
            assert!(p.catalog_error.is_none(), "{:?}", p.catalog_error);
        }
        processed.into_iter().map(|p| p.outcome).collect()
    }

    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.store.list(bucket, prefix).await.unwrap().into_iter().map(|m| m.location.key).collect()
    }

    /// Rows in the Parquet files of `table`.
    pub async fn parquet_rows(&self, table: &str) -> u64 {
        let mut rows = 0;
        for key in self.keys("output", &format!("{table}/")).await {
            let file = std::fs::File::open(self.root.join("buckets/output").join(&key)).unwrap();
            rows += parquet::file::reader::SerializedFileReader::new(file)
                .map(|r| parquet::file::reader::FileReader::metadata(&r).file_metadata().num_rows() as u64)
                .unwrap();
        }
        rows
    }

    /// Every value of a string `column` of `table`, sorted, read from the Parquet files.
    pub async fn strings(&self, table: &str, column: &str) -> Vec<String> {
        use arrow_array::cast::AsArray;
        let mut values = Vec::new();
        for key in self.keys("output", &format!("{table}/")).await {
            let file = std::fs::File::open(self.root.join("buckets/output").join(&key)).unwrap();
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                values.extend(batch.column_by_name(column).unwrap().as_string::<i32>().iter().map(|s| s.unwrap().to_owned()));
            }
        }
        values.sort();
        values
    }
}

pub fn loaded(outcomes: &[Outcome]) -> Vec<&LoadReport> {
    outcomes.iter().filter_map(|o| if let Outcome::Loaded(r) = o { Some(r) } else { None }).collect()
}

/// A zip of `(name, content)` members.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}
