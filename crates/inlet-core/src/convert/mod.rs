//! Converting one delimited-text file into partitioned Parquet.
//!
//! The source is read record by record ([`csv`]), each record is typed and
//! checked, and the row goes either to its Hive partition's Parquet file or to
//! the rejects table with the reason. Nothing is held beyond a few thousand
//! rows per open partition, so memory does not grow with the input.

mod sink;

pub use sink::{BatchBuilder, Cell, PartitionedWriter, SinkError, SinkOptions, WrittenFile};

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Datelike, TimeZone, Timelike, Utc};
use sha2::{Digest, Sha256};

use crate::partition::DEFAULT_PARTITION;
use crate::pipeline::{
    BadValueAction, Check, CheckAction, CheckKind, CheckTarget, ColumnType, PartitionSource, Pipeline, TIME_COLUMN, UnmappedColumns, names,
};

/// Default for [`SinkOptions::memory_budget_bytes`]: well under the smallest
/// Lambda's 128 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 32 << 20;

/// A column of the output table, with what the catalog keeps about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: DataType,
    pub units: Option<String>,
    pub description: Option<String>,
}

/// Arrow field metadata keys. They travel inside every Parquet file (in its
/// `ARROW:schema`), so the catalog can be rebuilt from the files alone.
pub const UNITS_KEY: &str = "units";
pub const DESCRIPTION_KEY: &str = "description";

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

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RowCounts {
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    /// Values that got at least one QC bit.
    pub values_flagged: u64,
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
    pub memory_budget_bytes: usize,
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

fn arrow_type(column_type: ColumnType) -> DataType {
    match column_type {
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::String => DataType::Utf8,
        ColumnType::Boolean => DataType::Boolean,
    }
}

/// A data column's place in the source and in the output.
#[derive(Debug)]
struct DataColumn {
    source_index: usize,
    info: ColumnInfo,
    column_type: ColumnType,
    checks: Vec<Check>,
    qc_slot: Option<usize>,
}

/// How the fields of each record map onto the output.
#[derive(Debug)]
struct Plan {
    time_index: usize,
    time_checks: Vec<Check>,
    time_qc_slot: Option<usize>,
    data: Vec<DataColumn>,
    qc_count: usize,
    expected_fields: usize,
    schema: SchemaRef,
}

fn keeps_qc(check: &Check) -> bool {
    matches!(check.action, CheckAction::Flag | CheckAction::Remove)
}

impl Plan {
    fn new(pipeline: &Pipeline, header: &[String]) -> Result<Self, ConvertError> {
        let time_index = header.iter().position(|h| h.trim() == pipeline.time_column).ok_or_else(|| ConvertError::Header {
            problem: format!("the time column {:?} is not in the header {:?}", pipeline.time_column, header),
            fix: format!("set time.column in {} to one of the header's names", pipeline.source_file),
        })?;
        let partition_keys = pipeline.partition_keys();
        let mut data = Vec::new();
        for (index, raw_name) in header.iter().enumerate() {
            let source = raw_name.trim();
            if index == time_index {
                continue;
            }
            let (name, column_type, units, description) = match pipeline.columns.iter().find(|c| c.source == source) {
                Some(mapped) => (mapped.name.clone(), mapped.data_type, mapped.units.clone(), mapped.description.clone()),
                None => match pipeline.unmapped_columns {
                    UnmappedColumns::Ignore => continue,
                    UnmappedColumns::Fail => {
                        return Err(ConvertError::Header {
                            problem: format!("column {source:?} is not described in the pipeline, which has `unmapped_columns: fail`"),
                            fix: format!("add it to `columns` in {}, or set unmapped_columns to infer or ignore", pipeline.source_file),
                        });
                    }
                    UnmappedColumns::Infer => {
                        let (name, units) = names::split_units(source);
                        (name, ColumnType::Float64, units, None)
                    }
                },
            };
            if name == TIME_COLUMN || partition_keys.contains(&name) || name.starts_with("qc_") {
                return Err(ConvertError::Header {
                    problem: format!("column {source:?} would be named {name:?}, which is reserved (time, a partition key, or qc_*)"),
                    fix: format!("map it to another name in `columns` of {}", pipeline.source_file),
                });
            }
            if let Some(other) = data.iter().find(|c: &&DataColumn| c.info.name == name) {
                return Err(ConvertError::Header {
                    problem: format!("columns {:?} and {source:?} would both be named {name:?}", header[other.source_index]),
                    fix: format!("map one of them to another name in `columns` of {}", pipeline.source_file),
                });
            }
            let checks: Vec<Check> = pipeline
                .checks
                .iter()
                .filter(|c| match &c.target {
                    CheckTarget::AllData => true,
                    CheckTarget::Column(n) => *n == name,
                    CheckTarget::Time => false,
                })
                .filter(|c| {
                    let numeric_bound = !matches!(c.kind, CheckKind::Missing);
                    !(numeric_bound && matches!(column_type, ColumnType::String | ColumnType::Boolean))
                })
                .cloned()
                .collect();
            let data_type = arrow_type(column_type);
            data.push(DataColumn {
                source_index: index,
                info: ColumnInfo { name, data_type, units, description },
                column_type,
                checks,
                qc_slot: None,
            });
        }

        let time_checks: Vec<Check> = pipeline.checks.iter().filter(|c| c.target == CheckTarget::Time).cloned().collect();
        let mut qc_count = 0;
        let time_qc_slot = time_checks.iter().any(keeps_qc).then(|| {
            qc_count += 1;
            0
        });
        for column in &mut data {
            if column.checks.iter().any(keeps_qc) || (pipeline.reader.on_bad_value == BadValueAction::Null && !column.checks.is_empty()) {
                column.qc_slot = Some(qc_count);
                qc_count += 1;
            }
        }

        let mut columns = vec![ColumnInfo {
            name: TIME_COLUMN.into(),
            data_type: timestamp_type(),
            units: None,
            description: Some(format!("from {:?}, in UTC", pipeline.time_column)),
        }];
        columns.extend(data.iter().map(|c| c.info.clone()));
        let qc_info = |name: &str| ColumnInfo {
            name: format!("qc_{name}"),
            data_type: DataType::Int32,
            units: None,
            description: Some(format!(
                "quality bits for {name}: 1 missing, 2 fail_min, 4 fail_max, 8 warn_min, 16 warn_max, 32 monotonic, 64 duplicate_time"
            )),
        };
        if time_qc_slot.is_some() {
            columns.push(qc_info(TIME_COLUMN));
        }
        columns.extend(data.iter().filter(|c| c.qc_slot.is_some()).map(|c| qc_info(&c.info.name)));
        let fields: Vec<Field> = columns.iter().map(|c| c.field(c.name != TIME_COLUMN)).collect();

        Ok(Plan {
            time_index,
            time_checks,
            time_qc_slot,
            data,
            qc_count,
            expected_fields: header.len(),
            schema: Arc::new(Schema::new(fields)),
        })
    }
}

/// Bytes read ahead of the parser, per chunk.
const READ_AHEAD_CHUNK: usize = 256 << 10;
/// Chunks that may wait for the parser.
const READ_AHEAD_CHUNKS: usize = 4;

/// Reads the source on a thread of its own, hashing it on the way, so that
/// fetching the body overlaps with converting it.
struct ReadAhead {
    chunks: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
}

impl ReadAhead {
    /// Starts reading `input` on a thread of `scope`; the thread's result is
    /// the SHA-256 of everything it read.
    fn spawn<'scope, R: Read + Send + 'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        mut input: R,
    ) -> (Self, std::thread::ScopedJoinHandle<'scope, Sha256>) {
        let (sender, chunks) = std::sync::mpsc::sync_channel(READ_AHEAD_CHUNKS);
        let reader = scope.spawn(move || {
            let mut hasher = Sha256::new();
            loop {
                let mut chunk = vec![0u8; READ_AHEAD_CHUNK];
                let read = match input.read(&mut chunk) {
                    Ok(0) => return hasher,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // The parser sees the error; a dropped parser ends the thread.
                        let _ = sender.send(Err(e));
                        return hasher;
                    }
                };
                chunk.truncate(read);
                hasher.update(&chunk);
                if sender.send(Ok(chunk)).is_err() {
                    return hasher;
                }
            }
        });
        (Self { chunks, current: Vec::new(), position: 0 }, reader)
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.position == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk?;
                    self.position = 0;
                }
                // The reading thread is done: the end of the source.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// A parsed cell before it reaches a builder.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Null,
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(&'a str),
}

impl Value<'_> {
    fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(v) => Some(v),
            Value::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    fn cell(&self) -> Cell<'_> {
        match *self {
            Value::Null => Cell::Null,
            Value::Float(v) => Cell::Float(v),
            Value::Int(v) => Cell::Int(v),
            Value::Bool(v) => Cell::Bool(v),
            Value::Str(v) => Cell::Str(v),
        }
    }
}

fn parse_value<'a>(text: &'a str, column_type: ColumnType) -> Result<Value<'a>, String> {
    let trimmed = text.trim();
    match column_type {
        ColumnType::String => Ok(Value::Str(text)),
        ColumnType::Float64 => trimmed.parse::<f64>().map(Value::Float).map_err(|_| format!("{trimmed:?} is not a number")),
        ColumnType::Int64 => match trimmed.parse::<i64>() {
            Ok(v) => Ok(Value::Int(v)),
            // Exports often write whole numbers as 1200.0.
            Err(_) => match trimmed.parse::<f64>() {
                Ok(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Value::Int(v as i64)),
                _ => Err(format!("{trimmed:?} is not a whole number")),
            },
        },
        ColumnType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
            "false" | "f" | "no" | "n" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("{trimmed:?} is not true or false")),
        },
    }
}

/// Whether a check fails for a value; the reason when it does.
fn violates(check: &Check, value: &Value<'_>) -> Option<String> {
    match check.kind {
        CheckKind::Missing => matches!(value, Value::Null).then(|| "the value is missing".to_owned()),
        kind => {
            let v = value.as_f64()?;
            let bound = check.value.expect("validated: bound checks have a value");
            let below = matches!(kind, CheckKind::FailMin | CheckKind::WarnMin);
            let fails = if below { v < bound } else { v > bound };
            fails.then(|| format!("{v} is {} the {} of {bound}", if below { "below" } else { "above" }, kind.name()))
        }
    }
}

/// A reason to keep a row out of the table.
struct Rejection {
    check: String,
    column: Option<String>,
    value: Option<String>,
    reason: String,
}

/// The part of the rejects table one row contributes.
fn record_text(fields: &[&str], delimiter: u8) -> String {
    fields.join(&(delimiter as char).to_string())
}

fn partition_values(pipeline: &Pipeline, location: Option<&str>, time_ms: i64, data: &[DataColumn], values: &[Value<'_>]) -> Vec<String> {
    let local = Utc.timestamp_millis_opt(time_ms).single().map(|t| t.with_timezone(&pipeline.partition_timezone));
    pipeline
        .partition_by
        .iter()
        .map(|(_, source)| match (source, &local) {
            (PartitionSource::Location, _) => location.unwrap_or(DEFAULT_PARTITION).to_owned(),
            (PartitionSource::Year, Some(t)) => format!("{:04}", t.year()),
            (PartitionSource::Month, Some(t)) => format!("{:02}", t.month()),
            (PartitionSource::Day, Some(t)) => format!("{:02}", t.day()),
            (PartitionSource::Hour, Some(t)) => format!("{:02}", t.hour()),
            (PartitionSource::Column(name), _) => data
                .iter()
                .position(|c| &c.info.name == name)
                .and_then(|i| match values[i] {
                    Value::Str(s) => Some(names::partition_value(s)),
                    _ => None,
                })
                .unwrap_or_else(|| DEFAULT_PARTITION.into()),
            (_, None) => DEFAULT_PARTITION.into(),
        })
        .collect()
}

fn skip_bom_and_lines<R: BufRead>(reader: &mut R, lines: usize) -> std::io::Result<()> {
    let buffer = reader.fill_buf()?;
    if buffer.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    let mut sink = Vec::new();
    for _ in 0..lines {
        sink.clear();
        if reader.read_until(b'\n', &mut sink)? == 0 {
            break;
        }
    }
    Ok(())
}

/// Converts one source file. `workdir` receives the temporary Parquet files.
///
/// Three threads share the work: one reads and hashes the source, this one
/// parses, types and checks rows, and one per output table encodes Parquet.
pub fn convert(target: &ConvertTarget<'_>, input: impl Read + Send, workdir: &Path) -> Result<Converted, ConvertError> {
    std::thread::scope(|scope| {
        let (read_ahead, reader) = ReadAhead::spawn(scope, input);
        let converted = convert_rows(target, read_ahead, workdir)?;
        let hasher = reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok(Converted { content_sha256: hex::encode(hasher.finalize()), ..converted })
    })
}

/// Everything [`convert`] does but hashing; `content_sha256` is left empty.
fn convert_rows(target: &ConvertTarget<'_>, input: ReadAhead, workdir: &Path) -> Result<Converted, ConvertError> {
    let pipeline = target.pipeline;
    let read_error = |line: Option<u64>, e: &dyn std::fmt::Display| ConvertError::Read { line, message: e.to_string() };

    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    skip_bom_and_lines(&mut buffered, pipeline.reader.skip_lines).map_err(|e| read_error(None, &e))?;
    let line_offset = pipeline.reader.skip_lines as u64;

    let mut csv = csv::ReaderBuilder::new().has_headers(false).delimiter(pipeline.delimiter).flexible(true).from_reader(buffered);
    let mut record = csv::ByteRecord::new();

    let header: Vec<String> = if pipeline.reader.header {
        match csv.read_byte_record(&mut record) {
            Ok(true) => record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect(),
            Ok(false) => Vec::new(),
            Err(e) => return Err(read_error(Some(1 + line_offset), &e)),
        }
    } else {
        pipeline.reader.column_names.clone()
    };

    let mut counts = RowCounts::default();
    let source_uri = target.source_uri;
    let metadata = vec![("inlet.source".to_owned(), source_uri.to_owned()), ("inlet.pipeline".to_owned(), pipeline.name.clone())];
    let sink_options = |compression| SinkOptions {
        compression,
        target_file_bytes: pipeline.output.target_file_mib << 20,
        row_group_rows: pipeline.output.row_group_rows,
        memory_budget_bytes: target.memory_budget_bytes,
        metadata: metadata.clone(),
    };
    let mut rejects = PartitionedWriter::new(rejects_schema(), Vec::new(), sink_options(pipeline.output.compression), workdir, "rejects");

    // An empty file (or one with a header only) is valid and yields no rows.
    if header.is_empty() {
        drain(csv);
        return finish_empty(target, pipeline, String::new(), rejects, counts);
    }
    let plan = Plan::new(pipeline, &header)?;
    let mut data_writer = PartitionedWriter::new(
        Arc::clone(&plan.schema),
        pipeline.partition_keys(),
        sink_options(pipeline.output.compression),
        workdir,
        "data",
    );

    let is_null = |text: &str| pipeline.null_values.contains(text.trim());
    let mut previous_time: Option<i64> = None;
    let mut embedded_newlines: u64 =
        if pipeline.reader.header { record.iter().map(|field| field.iter().filter(|b| **b == b'\n').count() as u64).sum() } else { 0 };
    let mut qc: Vec<i32> = vec![0; plan.qc_count];
    // Rows often share a timestamp text (a trading day, an hour of readings):
    // parse it once, and cut partition values only when the time changes.
    let mut last_time: Option<(String, i64)> = None;
    let mut partition: Vec<String> = Vec::new();
    let mut partition_time: Option<i64> = None;
    let partitions_by_column = pipeline.partition_by.iter().any(|(_, source)| matches!(source, PartitionSource::Column(_)));
    let mut owned = csv::ByteRecord::new();

    loop {
        match csv.read_byte_record(&mut owned) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line() + line_offset);
                return Err(read_error(line, &e));
            }
        }
        // The csv crate counts record terminators; newlines inside quoted
        // fields are added here so line numbers match an editor's.
        let line = owned.position().map(|p| p.line()).unwrap_or(0) + line_offset + embedded_newlines;
        embedded_newlines += owned.iter().map(|field| field.iter().filter(|b| **b == b'\n').count() as u64).sum::<u64>();
        counts.rows_in += 1;

        // Decode the fields; a record that is not UTF-8 is rejected, not the file.
        let mut fields: Vec<&str> = Vec::with_capacity(plan.expected_fields);
        let mut encoding_error = None;
        for (i, raw) in owned.iter().enumerate() {
            match std::str::from_utf8(raw) {
                Ok(text) => fields.push(text),
                Err(_) => {
                    encoding_error.get_or_insert(i);
                    fields.push("");
                }
            }
        }
        let record_string = || {
            let lossy: Vec<String> = owned.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
            lossy.join(&(pipeline.delimiter as char).to_string())
        };

        let mut rejection: Option<Rejection> = None;
        if let Some(i) = encoding_error {
            rejection = Some(Rejection {
                check: "encoding".into(),
                column: header.get(i).cloned(),
                value: None,
                reason: format!("field {} is not valid UTF-8", i + 1),
            });
        } else if fields.len() != plan.expected_fields {
            rejection = Some(Rejection {
                check: "shape".into(),
                column: None,
                value: None,
                reason: format!("expected {} fields, found {}", plan.expected_fields, fields.len()),
            });
        }
        if let Some(r) = rejection {
            counts.rows_rejected += 1;
            write_reject(&mut rejects, source_uri, line, r, record_string())?;
            continue;
        }

        // Time first: without it the row has no partition.
        let raw_time = fields[plan.time_index];
        let time_ms = if is_null(raw_time) {
            if let Some(check) = plan.time_checks.iter().find(|c| c.kind == CheckKind::Missing && c.action == CheckAction::Fail) {
                return Err(check_failed("missing", TIME_COLUMN, line, raw_time, "the time is missing".into(), &check.origin));
            }
            counts.rows_rejected += 1;
            let r = Rejection {
                check: "missing".into(),
                column: Some(TIME_COLUMN.into()),
                value: Some(raw_time.into()),
                reason: "the time is missing".into(),
            };
            write_reject(&mut rejects, source_uri, line, r, record_text(&fields, pipeline.delimiter))?;
            continue;
        } else {
            let parsed = match &last_time {
                Some((text, ms)) if text == raw_time => Ok(*ms),
                _ => pipeline.time.parse(raw_time).inspect(|ms| last_time = Some((raw_time.to_owned(), *ms))),
            };
            match parsed {
                Ok(t) => t,
                Err(reason) => {
                    if pipeline.reader.on_bad_value == BadValueAction::Fail {
                        return Err(ConvertError::BadValue { line, column: TIME_COLUMN.into(), reason });
                    }
                    counts.rows_rejected += 1;
                    let r = Rejection { check: "type".into(), column: Some(TIME_COLUMN.into()), value: Some(raw_time.into()), reason };
                    write_reject(&mut rejects, source_uri, line, r, record_text(&fields, pipeline.delimiter))?;
                    continue;
                }
            }
        };

        let mut values: Vec<Value<'_>> = Vec::with_capacity(plan.data.len());
        qc.iter_mut().for_each(|bits| *bits = 0);
        for column in &plan.data {
            let text = fields[column.source_index];
            let value = if is_null(text) {
                Value::Null
            } else {
                match parse_value(text, column.column_type) {
                    Ok(v) => v,
                    Err(reason) => match pipeline.reader.on_bad_value {
                        BadValueAction::Fail => return Err(ConvertError::BadValue { line, column: column.info.name.clone(), reason }),
                        BadValueAction::Null => Value::Null,
                        BadValueAction::Reject => {
                            rejection.get_or_insert(Rejection {
                                check: "type".into(),
                                column: Some(column.info.name.clone()),
                                value: Some(text.into()),
                                reason,
                            });
                            Value::Null
                        }
                    },
                }
            };
            values.push(value);
        }

        for (index, column) in plan.data.iter().enumerate() {
            for check in &column.checks {
                let Some(reason) = violates(check, &values[index]) else { continue };
                match check.action {
                    CheckAction::Flag | CheckAction::Remove => {
                        if let Some(slot) = column.qc_slot {
                            qc[slot] |= check.kind.qc_mask();
                        }
                        if check.action == CheckAction::Remove {
                            values[index] = Value::Null;
                        }
                    }
                    CheckAction::Reject => {
                        rejection.get_or_insert_with(|| Rejection {
                            check: check.kind.name().into(),
                            column: Some(column.info.name.clone()),
                            value: Some(fields[column.source_index].into()),
                            reason,
                        });
                    }
                    CheckAction::Fail => {
                        return Err(check_failed(
                            check.kind.name(),
                            &column.info.name,
                            line,
                            fields[column.source_index],
                            reason,
                            &check.origin,
                        ));
                    }
                }
            }
        }

        for check in &plan.time_checks {
            let reason = match (check.kind, previous_time) {
                (CheckKind::Monotonic, Some(prev)) if time_ms < prev => {
                    format!("time goes back from the previous row's by {} ms", prev - time_ms)
                }
                (CheckKind::DuplicateTime, Some(prev)) if time_ms == prev => "time repeats the previous row's".to_owned(),
                _ => continue,
            };
            match check.action {
                CheckAction::Flag | CheckAction::Remove => {
                    if let Some(slot) = plan.time_qc_slot {
                        qc[slot] |= check.kind.qc_mask();
                    }
                }
                CheckAction::Reject => {
                    rejection.get_or_insert_with(|| Rejection {
                        check: check.kind.name().into(),
                        column: Some(TIME_COLUMN.into()),
                        value: Some(raw_time.into()),
                        reason,
                    });
                }
                CheckAction::Fail => {
                    return Err(check_failed(check.kind.name(), TIME_COLUMN, line, raw_time, reason, &check.origin));
                }
            }
        }

        if let Some(r) = rejection {
            counts.rows_rejected += 1;
            write_reject(&mut rejects, source_uri, line, r, record_text(&fields, pipeline.delimiter))?;
            continue;
        }

        previous_time = Some(time_ms);
        counts.rows_out += 1;
        counts.values_flagged += qc.iter().filter(|bits| **bits != 0).count() as u64;
        if partitions_by_column || partition_time != Some(time_ms) {
            partition = partition_values(pipeline, target.location, time_ms, &plan.data, &values);
            partition_time = Some(time_ms);
        }
        let cells =
            std::iter::once(Cell::Timestamp(time_ms)).chain(values.iter().map(Value::cell)).chain(qc.iter().map(|bits| Cell::Qc(*bits)));
        data_writer.append(&partition, cells)?;
    }

    drain(csv);
    Ok(Converted {
        content_sha256: String::new(),
        data: TableOutput {
            table: target.table.to_owned(),
            schema: plan.schema,
            partition_keys: pipeline.partition_keys(),
            files: data_writer.finish()?,
        },
        rejects: rejects_output(target.table, rejects)?,
        counts,
    })
}

fn write_reject(rejects: &mut PartitionedWriter, source: &str, line: u64, r: Rejection, record: String) -> Result<(), SinkError> {
    let cells = [
        Cell::Str(source),
        Cell::Int(line as i64),
        Cell::Str(&r.check),
        r.column.as_deref().map_or(Cell::Null, Cell::Str),
        r.value.as_deref().map_or(Cell::Null, Cell::Str),
        Cell::Str(&r.reason),
        Cell::Str(&record),
    ];
    rejects.append(&[], cells)
}

/// Reads whatever the CSV reader left, so the hash covers the whole source.
/// An error here is the source's, and the engine hears of it from the reader
/// it passed in (`ingest::load`'s watched body), so it is not returned twice.
fn drain<R: Read>(csv: csv::Reader<R>) {
    let mut rest = csv.into_inner();
    let _ = std::io::copy(&mut rest, &mut std::io::sink());
}

fn rejects_output(table: &str, rejects: PartitionedWriter) -> Result<TableOutput, SinkError> {
    Ok(TableOutput { table: format!("{table}_rejects"), schema: rejects_schema(), partition_keys: Vec::new(), files: rejects.finish()? })
}

fn finish_empty(
    target: &ConvertTarget<'_>,
    pipeline: &Pipeline,
    content_sha256: String,
    rejects: PartitionedWriter,
    counts: RowCounts,
) -> Result<Converted, ConvertError> {
    let schema = Arc::new(Schema::new(vec![Field::new(TIME_COLUMN, timestamp_type(), false)]));
    Ok(Converted {
        content_sha256,
        data: TableOutput { table: target.table.to_owned(), schema, partition_keys: pipeline.partition_keys(), files: Vec::new() },
        rejects: rejects_output(target.table, rejects)?,
        counts,
    })
}

#[cfg(test)]
mod tests;
