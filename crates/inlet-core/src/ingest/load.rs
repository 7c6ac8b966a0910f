//! Loading one data file: convert it, write its outputs under deterministic
//! names, and replace whatever an earlier version of the same source wrote.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::{Arc, Mutex};

use tokio_util::io::SyncIoBridge;

use super::manifest::Manifest;
use super::{Engine, Input, LoadReport, Problem, Stage};
use crate::convert::{self, ConvertTarget, Converted};
use crate::layout;
use crate::pipeline::Route;
use crate::storage::ObjectLocation;

/// The outputs written for one conversion.
struct Written {
    data: Vec<String>,
    rejects: Vec<String>,
}

impl Engine {
    pub(super) async fn load(&self, input: &Input<'_>, route: &Route) -> Result<LoadReport, Problem> {
        let (source, version) = (input.source, input.version);
        let scratch = self.lifecycle.scratch(Stage::Convert)?;
        let converted = self.convert(input, route, scratch.path()).await?;

        let sid = layout::source_id(&source.bucket, &source.key);
        let manifest_location = ObjectLocation::new(&self.lifecycle.config.output_bucket, layout::manifest_key(&sid));
        let previous: Manifest = self.lifecycle.read_document(&manifest_location).await?.unwrap_or_default();

        let written = self.upload(&converted, &sid, route, &previous).await?;
        let mut outputs: Vec<String> = written.data.iter().chain(&written.rejects).cloned().collect();
        outputs.sort();
        let current: BTreeSet<&String> = outputs.iter().collect();
        let stale: Vec<String> = previous.all_outputs().filter(|k| !current.contains(k)).cloned().collect();
        let done_key = layout::lifecycle_key(&source.key, layout::DONE);
        let report = LoadReport {
            correlation_id: input.correlation_id.to_owned(),
            ..report(source, route, converted, written, done_key, stale.len())
        };
        let manifest = Manifest {
            source: report.source.clone(),
            content_sha256: report.content_sha256.clone(),
            outputs: outputs.clone(),
            stale,
            report: Some(report.clone()),
        };
        if let Err(problem) = self.lifecycle.write_document(&manifest_location, &manifest).await {
            self.remove_new_outputs(&outputs, &previous).await;
            return Err(problem);
        }
        // Only now may the previous version's files go: until here a reader
        // sees the old rows, after here the new ones.
        self.remove_stale(&manifest_location, manifest).await?;

        self.lifecycle.finish(source, version, &report.done_key).await?;
        Ok(report)
    }

    /// Runs the pipeline's conversion over the object's body, off the async runtime.
    async fn convert(&self, input: &Input<'_>, route: &Route, workdir: &std::path::Path) -> Result<Converted, Problem> {
        let source = input.source;
        let (_, body) = self.lifecycle.store.get(source).await.map_err(|e| Problem::classified(Stage::Fetch, e))?;
        let source_uri = super::identity_of(source).to_string();
        let correlation_id = input.correlation_id.to_owned();
        let route = route.clone();
        let workdir = workdir.to_owned();
        let memory_budget_bytes = self.lifecycle.config.memory_budget_bytes;
        let bytes_read = Arc::clone(&self.bytes_read);
        let (watched, read_error) = WatchedReader::new(SyncIoBridge::new(body));
        let converted = tokio::task::spawn_blocking(move || {
            let target = ConvertTarget {
                pipeline: &route.pipeline,
                table: &route.table,
                location: route.location.as_deref(),
                source_uri: &source_uri,
                correlation_id: &correlation_id,
                memory_budget_bytes,
                captures: &route.captures,
                bytes_read: Some(&bytes_read),
            };
            convert::convert(&target, watched, &workdir)
        })
        .await
        .map_err(|e| Problem::new(Stage::Convert, format!("the conversion task stopped: {e}")))?;
        // The body broke off (a reset, a timeout): the file is not at fault,
        // and a conversion that finished anyway hashed only part of it.
        if let Some(io) = read_error.lock().expect("never poisoned").take() {
            return Err(Problem::transient(Stage::Fetch, format!("reading {source} broke off: {io}")));
        }
        converted.map_err(|e| Problem { line: e.line(), ..Problem::new(Stage::Convert, e) })
    }

    /// Writes every output under its final, deterministic name.
    async fn upload(&self, converted: &Converted, sid: &str, route: &Route, previous: &Manifest) -> Result<Written, Problem> {
        let mut keys: Vec<String> = Vec::new();
        let outputs = [&converted.data, &converted.rejects];
        for output in outputs {
            for file in &output.files {
                let key = layout::output_key(
                    &output.table,
                    &file.partition,
                    sid,
                    &converted.content_sha256,
                    file.chunk,
                    route.pipeline.output.compression,
                );
                let target = ObjectLocation::new(&self.lifecycle.config.output_bucket, &key);
                if let Err(e) = self.lifecycle.store.put_scratch_file(&target, &file.path).await {
                    self.remove_new_outputs(&keys, previous).await;
                    return Err(Problem::classified(Stage::Write, e));
                }
                keys.push(key);
            }
        }
        let rejects = keys.split_off(converted.data.files.len());
        Ok(Written { data: keys, rejects })
    }

    /// Deletes the stale outputs a manifest lists, then clears the list. A
    /// delete that fails stops the load as transient: the retry finds the
    /// list in the manifest and finishes the job, so no stale row stays.
    async fn remove_stale(&self, location: &ObjectLocation, mut manifest: Manifest) -> Result<(), Problem> {
        if manifest.stale.is_empty() {
            return Ok(());
        }
        for key in &manifest.stale {
            self.lifecycle.store.delete(&ObjectLocation::new(&self.lifecycle.config.output_bucket, key.as_str())).await.map_err(|e| {
                Problem::transient(Stage::Write, format!("could not remove an output of an earlier version of this source: {e}"))
            })?;
        }
        manifest.stale.clear();
        self.lifecycle.write_document(location, &manifest).await
    }

    /// Takes back outputs of a load that could not finish. Best effort, and
    /// safe to lose: output names are deterministic, so the retry of the same
    /// version overwrites whatever is left, and no manifest names them yet.
    async fn remove_new_outputs(&self, written: &[String], previous: &Manifest) {
        let earlier: BTreeSet<&String> = previous.all_outputs().collect();
        for key in written.iter().filter(|k| !earlier.contains(k)) {
            if let Err(e) = self.lifecycle.store.delete(&ObjectLocation::new(&self.lifecycle.config.output_bucket, key.as_str())).await {
                tracing::warn!(key = %key, error = %e, "could not take back an output of an unfinished load; its retry overwrites it");
            }
        }
    }
}

fn report(
    source: &ObjectLocation,
    route: &Route,
    converted: Converted,
    written: Written,
    done_key: String,
    replaced_files: usize,
) -> LoadReport {
    let partitions: BTreeSet<String> = converted.data.files.iter().map(|f| f.partition.path()).collect();
    LoadReport {
        source: super::identity_of(source).to_string(),
        done_key,
        pipeline: route.pipeline.name.clone(),
        table: route.table.clone(),
        location: route.location.clone(),
        counts: converted.counts,
        partitions: partitions.into_iter().collect(),
        files: written.data,
        rejects_files: written.rejects,
        replaced_files,
        content_sha256: converted.content_sha256,
        correlation_id: String::new(),
    }
}

/// A reader that remembers the I/O error its source gave, so a conversion
/// that failed because the body broke off is told apart from one that failed
/// on the file's content.
struct WatchedReader<R> {
    inner: R,
    error: Arc<Mutex<Option<String>>>,
}

impl<R: Read> WatchedReader<R> {
    fn new(inner: R) -> (Self, Arc<Mutex<Option<String>>>) {
        let error = Arc::new(Mutex::new(None));
        (Self { inner, error: Arc::clone(&error) }, error)
    }
}

impl<R: Read> Read for WatchedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            *self.error.lock().expect("never poisoned") = Some(e.to_string());
        })
    }
}
