//! Converting one source object into partitioned Parquet: the columnar engine.
//!
//! ```text
//! bytes ─▶ read ahead ─▶ format reader ─▶ typing, checks ─▶ partitioned writer ─▶ disk ─▶ Parquet files
//!          (hash)        (raw text        (column at a     (split by partition,
//!                         batches)         time, masks)     encoded on its own thread)
//! ```
//!
//! A [`read::RecordReader`] turns the bytes into bounded batches of text
//! columns; the engine types each column into an Arrow array, evaluates each
//! check over a whole array into a mask, and sends kept rows to their Hive
//! partition's file and the others to the rejects table with the reason.
//! Reading, checking and encoding run on threads of their own, joined by
//! bounded channels, so memory does not grow with the input.

mod checks;
mod disk;
mod engine;
mod partitioning;
mod plan;
pub mod read;
mod read_ahead;
mod sink;
mod spill;
mod typing;

pub use sink::{PartitionedWriter, SinkError, SinkOptions, WrittenFile};

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use self::engine::Engine;
use self::partitioning::Partitioner;
use self::plan::Plan;
use self::read::{RawBatch, ReadContext, RecordReader};
use self::read_ahead::ReadAhead;
use crate::pipeline::{Pipeline, TimeType};

pub use crate::ingest::{DEFAULT_MEMORY_BUDGET, RowCounts};
pub use crate::metadata::{CORRELATION_ID_METADATA, DESCRIPTION_KEY, UNITS_KEY};

/// A column of the output table, with what the catalog keeps about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: DataType,
    pub units: Option<String>,
    pub description: Option<String>,
}

impl ColumnInfo {
    /// The Arrow field, with units and description as field metadata.
    pub fn field(&self, nullable: bool) -> Field {
        let mut metadata = std::collections::HashMap::new();
        if let Some(units) = &self.units {
            metadata.insert(UNITS_KEY.to_owned(), units.clone());
        }
        if let Some(description) = &self.description {
            metadata.insert(DESCRIPTION_KEY.to_owned(), description.clone());
        }
        Field::new(&self.name, self.data_type.clone(), nullable).with_metadata(metadata)
    }
}

/// One table's share of a conversion.
#[derive(Debug)]
pub struct TableOutput {
    pub table: String,
    pub schema: SchemaRef,
    pub partition_keys: Vec<String>,
    pub files: Vec<WrittenFile>,
}

/// Everything a conversion produced, still in temporary files.
#[derive(Debug)]
pub struct Converted {
    /// SHA-256 of the source bytes, hex.
    pub content_sha256: String,
    pub data: TableOutput,
    pub rejects: TableOutput,
    pub counts: RowCounts,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("reading the source failed{}: {message}", at_line(*line))]
    Read { line: Option<u64>, message: String },

    #[error("{problem}; {fix}")]
    Header { problem: String, fix: String },

    #[error(transparent)]
    CheckFailed(Box<CheckFailure>),

    #[error("line {line}, column {column}: {reason}; the pipeline says to fail the file for bad values (reader.on_bad_value: fail)")]
    BadValue { line: u64, column: String, reason: String },

    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// A check whose action is `fail` failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "check {check} on column {column} failed at line {line} (value {value:?}): {reason}; the pipeline says to fail the file for it ({origin})"
)]
pub struct CheckFailure {
    pub check: String,
    pub column: String,
    pub line: u64,
    pub value: String,
    pub reason: String,
    /// Where the check is defined: `checks[2]`.
    pub origin: String,
}

fn check_failed(check: &str, column: &str, line: u64, value: &str, reason: String, origin: &str) -> ConvertError {
    ConvertError::CheckFailed(Box::new(CheckFailure {
        check: check.into(),
        column: column.into(),
        line,
        value: value.into(),
        reason,
        origin: origin.into(),
    }))
}

fn at_line(line: Option<u64>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

impl ConvertError {
    /// The source line the error is about, when there is one.
    pub fn line(&self) -> Option<u64> {
        match self {
            ConvertError::Read { line, .. } => *line,
            ConvertError::CheckFailed(failure) => Some(failure.line),
            ConvertError::BadValue { line, .. } => Some(*line),
            ConvertError::Header { .. } | ConvertError::Sink(_) => None,
        }
    }
}

/// Where a conversion's rows go and what it is told about its source.
#[derive(Debug, Clone)]
pub struct ConvertTarget<'a> {
    pub pipeline: &'a Pipeline,
    pub table: &'a str,
    pub location: Option<&'a str>,
    /// The source object, as it should appear in rejects and file metadata.
    pub source_uri: &'a str,
    /// The input's correlation id, kept in each file's metadata.
    pub correlation_id: &'a str,
    pub memory_budget_bytes: usize,
    /// The named groups of the pipeline trigger that matched the source's key.
    pub captures: &'a [(String, String)],
    /// Counts the source's bytes as they are read, for progress reports.
    pub bytes_read: Option<&'a AtomicU64>,
}

/// The schema of every `<table>_rejects` table. Names avoid `check`, `column`
/// and `value`, which Hive DDL and some SQL engines reserve.
pub fn rejects_schema() -> SchemaRef {
    let fields: Vec<Field> = rejects_columns().iter().map(|c| c.field(matches!(c.name.as_str(), "column_name" | "raw_value"))).collect();
    Arc::new(Schema::new(fields))
}

fn rejects_columns() -> Vec<ColumnInfo> {
    let describe = |name: &str, description: &str| ColumnInfo {
        name: name.into(),
        data_type: if name == "line" { DataType::Int64 } else { DataType::Utf8 },
        units: None,
        description: Some(description.into()),
    };
    vec![
        describe("source", "the source object's URI"),
        describe("line", "the line the record starts on, from 1"),
        describe("check_name", "the check that rejected the row: missing, fail_min, …, or type, shape, encoding"),
        describe("column_name", "the output column the check was on"),
        describe("raw_value", "the value as it was in the source"),
        describe("reason", "why the row was rejected"),
        describe("record", "the whole source record, fields joined by the delimiter"),
    ]
}

pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

pub(crate) const MILLIS_PER_DAY: i64 = 86_400_000;

/// The Arrow type of a table's time column.
pub fn time_data_type(time_type: TimeType) -> DataType {
    match time_type {
        TimeType::Timestamp => timestamp_type(),
        TimeType::Date => DataType::Date32,
    }
}

/// Raw batches that may wait for the engine.
const RAW_BATCHES_IN_FLIGHT: usize = 2;

/// Converts one source object. `workdir` receives the temporary Parquet files.
///
/// Threads share the work: one reads and hashes the source, one splits it
/// into records, this one types and checks them, and per output table one
/// encodes Parquet and one writes it to disk.
pub fn convert(target: &ConvertTarget<'_>, input: impl Read + Send, workdir: &Path) -> Result<Converted, ConvertError> {
    std::thread::scope(|scope| {
        let (mut source, reading) = ReadAhead::spawn(scope, input, target.bytes_read);
        let converted = convert_source(target, &mut source, workdir);
        if converted.is_ok() {
            // The hash covers the whole source, whatever the reader left unread.
            // An error here is the source's, and the caller hears of it from
            // the reader it passed in (`ingest::load`'s watched body).
            let _ = std::io::copy(&mut source, &mut std::io::sink());
        }
        // A dropped source stops the reading thread at its next chunk.
        drop(source);
        let hasher = reading.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let content_sha256 = hex::encode(sha2::Digest::finalize(hasher));
        converted.map(|converted| Converted { content_sha256, ..converted })
    })
}

/// Everything [`convert`] does but hashing; `content_sha256` is left empty.
fn convert_source(target: &ConvertTarget<'_>, source: &mut ReadAhead, workdir: &Path) -> Result<Converted, ConvertError> {
    let pipeline = target.pipeline;
    let reader = read::open(pipeline, source, ReadContext { source_uri: target.source_uri, captures: target.captures })?;
    let options = sink_options(target);
    let mut rejects = PartitionedWriter::new(rejects_schema(), Vec::new(), options.clone(), workdir, "rejects");
    // An empty file (or one with a header only) is valid and yields no rows.
    if reader.columns().is_empty() {
        return finish_empty(target, rejects);
    }
    let plan = Plan::new(pipeline, reader.columns())?;
    let mut engine = Engine::new(pipeline, plan, target.source_uri, &reader.record_separator());
    let stored = stored_columns(engine.schema(), &pipeline.partition_keys());
    let schema = Arc::new(engine.schema().project(&stored).expect("the indices are the schema's"));
    let mut data = PartitionedWriter::new(Arc::clone(&schema), pipeline.partition_keys(), options, workdir, "data");
    let mut partitioner = Partitioner::new(pipeline, target.location);
    for_each_batch(reader, |raw| {
        let checked = engine.process(&raw)?;
        if let Some(rejected) = checked.rejects {
            rejects.write_unpartitioned(rejected)?;
        }
        let ids = partitioner.ids(&checked.data, &mut data);
        data.write(checked.data.project(&stored).expect("the indices are the batch's"), ids)?;
        Ok(())
    })?;
    Ok(Converted {
        content_sha256: String::new(),
        data: TableOutput { table: target.table.to_owned(), schema, partition_keys: pipeline.partition_keys(), files: data.finish()? },
        rejects: rejects_output(target.table, rejects)?,
        counts: engine.counts,
    })
}

/// The columns that go into the files: a column a table is partitioned by
/// lives in the path alone, as Hive and Athena want it.
fn stored_columns(schema: &SchemaRef, partition_keys: &[String]) -> Vec<usize> {
    (0..schema.fields().len()).filter(|i| !partition_keys.contains(schema.field(*i).name())).collect()
}

/// Runs the reader on a thread of its own and hands each batch to `process`,
/// in order. The first error, the reader's or `process`'s, ends it.
fn for_each_batch<'r>(
    mut reader: Box<dyn RecordReader + 'r>,
    mut process: impl FnMut(RawBatch) -> Result<(), ConvertError>,
) -> Result<(), ConvertError> {
    std::thread::scope(|scope| {
        let (sender, batches) = std::sync::mpsc::sync_channel(RAW_BATCHES_IN_FLIGHT);
        scope.spawn(move || {
            while let Some(next) = reader.next_batch().transpose() {
                let failed = next.is_err();
                // A closed channel means the engine stopped on an error of its own.
                if sender.send(next).is_err() || failed {
                    return;
                }
            }
        });
        // Returning drops the receiver, which stops the reading thread.
        batches.into_iter().try_for_each(|batch| process(batch?))
    })
}

fn sink_options(target: &ConvertTarget<'_>) -> SinkOptions {
    let pipeline = target.pipeline;
    SinkOptions {
        compression: pipeline.output.compression,
        target_file_bytes: pipeline.output.target_file_mib << 20,
        row_group_rows: pipeline.output.row_group_rows,
        memory_budget_bytes: target.memory_budget_bytes,
        metadata: vec![
            ("inlet.source".to_owned(), target.source_uri.to_owned()),
            ("inlet.pipeline".to_owned(), pipeline.name.clone()),
            (CORRELATION_ID_METADATA.to_owned(), target.correlation_id.to_owned()),
        ],
    }
}

fn rejects_output(table: &str, rejects: PartitionedWriter) -> Result<TableOutput, SinkError> {
    Ok(TableOutput {
        table: crate::layout::rejects_table(table),
        schema: rejects_schema(),
        partition_keys: Vec::new(),
        files: rejects.finish()?,
    })
}

fn finish_empty(target: &ConvertTarget<'_>, rejects: PartitionedWriter) -> Result<Converted, ConvertError> {
    let schema = Arc::new(Schema::new(vec![Field::new(&target.pipeline.time_name, time_data_type(target.pipeline.time_type), false)]));
    let partition_keys = target.pipeline.partition_keys();
    Ok(Converted {
        content_sha256: String::new(),
        data: TableOutput { table: target.table.to_owned(), schema, partition_keys, files: Vec::new() },
        rejects: rejects_output(target.table, rejects)?,
        counts: RowCounts::default(),
    })
}

#[cfg(test)]
mod tests;
