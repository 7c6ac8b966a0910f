//! Format readers: a byte stream in, bounded batches of raw text columns out.
//!
//! A reader knows a format's syntax and nothing else: typing, time, checks,
//! partitions and Parquet are the engine's, the same for every format. A
//! format is one file here that implements [`RecordReader`], one variant of
//! [`ReaderConfig`] with its settings struct, and one arm in [`open`].
//!
//! # A new format
//!
//! A reader for `key=value;key=value` lines, say, is a struct that implements
//! [`RecordReader`]; a variant of [`ReaderConfig`], with the struct of its
//! settings, and an arm in [`open`] make pipelines able to name it in
//! `reader.format`.
//!
//! ```
//! use std::io::BufRead;
//! use inlet_core::convert::ConvertError;
//! use inlet_core::convert::read::{RawBatch, RawBatchBuilder, ReaderRejection, RecordReader};
//!
//! struct KeyValueReader<R> {
//!     lines: std::io::Lines<R>,
//!     columns: Vec<String>,
//!     line: u64,
//! }
//!
//! impl<R: BufRead + Send> RecordReader for KeyValueReader<R> {
//!     fn columns(&self) -> &[String] {
//!         &self.columns
//!     }
//!
//!     fn next_batch(&mut self) -> Result<Option<RawBatch>, ConvertError> {
//!         let mut batch = RawBatchBuilder::new(self.columns.len());
//!         while !batch.is_full() {
//!             let Some(text) = self.lines.next() else { break };
//!             self.line += 1;
//!             let text = text.map_err(|e| ConvertError::Read { line: Some(self.line), message: e.to_string() })?;
//!             let fields: Vec<&str> = text.split(';').map(|kv| kv.split_once('=').map_or("", |(_, v)| v)).collect();
//!             if fields.len() == self.columns.len() {
//!                 batch.push_row(self.line, fields);
//!             } else {
//!                 batch.reject(ReaderRejection::shape(self.line, self.columns.len(), fields.len(), text.clone()));
//!             }
//!         }
//!         Ok(batch.finish())
//!     }
//!
//!     fn record_separator(&self) -> String {
//!         ";".into()
//!     }
//! }
//!
//! let lines = "a=1;b=2\na=3\n".as_bytes().lines();
//! let mut reader = KeyValueReader { lines, columns: vec!["a".into(), "b".into()], line: 0 };
//! let batch = reader.next_batch()?.expect("two records");
//! assert_eq!(batch.num_rows(), 1);
//! assert_eq!(batch.columns[1].value(0), "2");
//! assert_eq!((batch.rejected[0].line, batch.rejected[0].check), (2, "shape"));
//! # Ok::<(), ConvertError>(())
//! ```

mod csv;
mod grid;
mod json_lines;
mod tar_members;
mod xml;

use std::io::Read;
use std::sync::Arc;

use arrow_array::StringArray;
use arrow_array::builder::StringBuilder;

pub use self::csv::CsvReader;
pub use self::grid::GridReader;
pub use self::json_lines::{JsonLinesOptions, JsonLinesReader};
pub use self::xml::{XmlContainer, XmlOptions, XmlReader};
use super::ConvertError;
use crate::pipeline::{EXTRA_JSON_COLUMN, JsonLinesConfig, Pipeline, ReaderConfig, XmlConfig};

/// Rows a batch holds at most.
pub const MAX_BATCH_ROWS: usize = 8192;
/// Text a batch holds at most; a single longer record makes a batch of its own.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// What a reader is told about the object it reads.
#[derive(Debug, Clone, Copy)]
pub struct ReadContext<'a> {
    /// The object, as `s3://bucket/key`.
    pub source_uri: &'a str,
    /// The named capture groups of the pipeline trigger that matched the key.
    pub captures: &'a [(String, String)],
}

/// Reads one format into batches of raw text columns.
pub trait RecordReader: Send {
    /// The source's column names, in the order of [`RawBatch::columns`].
    /// Empty for a source with no columns (an empty file).
    fn columns(&self) -> &[String];

    /// The next batch, or `None` at the end of the source.
    fn next_batch(&mut self) -> Result<Option<RawBatch>, ConvertError>;

    /// What joins a record's fields where the rejects table shows the record.
    fn record_separator(&self) -> String;
}

/// A bounded run of records, as text, in source order.
#[derive(Debug)]
pub struct RawBatch {
    /// One array per source column; every array has one value per row.
    pub columns: Vec<Arc<StringArray>>,
    /// The source line each row starts on, from 1.
    pub lines: Vec<u64>,
    /// Records the reader could not split into the columns, in source order.
    pub rejected: Vec<ReaderRejection>,
}

impl RawBatch {
    pub fn num_rows(&self) -> usize {
        self.lines.len()
    }
}

/// A record the reader itself rejects: wrong shape or encoding.
#[derive(Debug, Clone)]
pub struct ReaderRejection {
    pub line: u64,
    /// `shape`, `syntax` or `encoding`.
    pub check: &'static str,
    pub column: Option<String>,
    pub reason: String,
    /// The whole record, with anything undecodable replaced.
    pub record: String,
}

impl ReaderRejection {
    pub fn shape(line: u64, expected: usize, found: usize, record: String) -> Self {
        Self { line, check: "shape", column: None, reason: format!("expected {expected} fields, found {found}"), record }
    }

    pub fn syntax(line: u64, reason: String, record: String) -> Self {
        Self { line, check: "syntax", column: None, reason, record }
    }

    pub fn encoding(line: u64, field: usize, column: Option<String>, record: String) -> Self {
        Self { line, check: "encoding", column, reason: format!("field {} is not valid UTF-8", field + 1), record }
    }
}

/// Collects rows into a [`RawBatch`] up to its bounds.
pub struct RawBatchBuilder {
    columns: Vec<StringBuilder>,
    lines: Vec<u64>,
    rejected: Vec<ReaderRejection>,
    bytes: usize,
}

impl RawBatchBuilder {
    pub fn new(columns: usize) -> Self {
        Self {
            columns: (0..columns).map(|_| StringBuilder::with_capacity(MAX_BATCH_ROWS, MAX_BATCH_BYTES / columns.max(1))).collect(),
            lines: Vec::with_capacity(MAX_BATCH_ROWS),
            rejected: Vec::new(),
            bytes: 0,
        }
    }

    /// Appends one row; `fields` has one value per column.
    pub fn push_row<'a>(&mut self, line: u64, fields: impl IntoIterator<Item = &'a str>) {
        for (builder, field) in self.columns.iter_mut().zip(fields) {
            self.bytes += field.len();
            builder.append_value(field);
        }
        self.lines.push(line);
    }

    pub fn reject(&mut self, rejection: ReaderRejection) {
        self.bytes += rejection.record.len();
        self.rejected.push(rejection);
    }

    pub fn is_full(&self) -> bool {
        self.lines.len() + self.rejected.len() >= MAX_BATCH_ROWS || self.bytes >= MAX_BATCH_BYTES
    }

    /// The batch, or `None` when nothing was added.
    pub fn finish(mut self) -> Option<RawBatch> {
        if self.lines.is_empty() && self.rejected.is_empty() {
            return None;
        }
        Some(RawBatch {
            columns: self.columns.iter_mut().map(|b| Arc::new(b.finish())).collect(),
            lines: self.lines,
            rejected: self.rejected,
        })
    }
}

/// Opens the reader the pipeline's `reader.format` names. A trigger's named
/// group that `columns` maps, and the source lacks, becomes a column of its own.
pub fn open<'a>(
    pipeline: &Pipeline,
    input: impl Read + Send + 'a,
    context: ReadContext<'_>,
) -> Result<Box<dyn RecordReader + 'a>, ConvertError> {
    let reader: Box<dyn RecordReader + 'a> = match &pipeline.reader {
        ReaderConfig::Csv(config) => Box::new(CsvReader::new(csv::CsvOptions::of(config), input)?),
        ReaderConfig::EsriGrid(_) => Box::new(GridReader::new(input)?),
        ReaderConfig::JsonLines(config) => Box::new(JsonLinesReader::new(json_lines_options(pipeline, config, context), input)),
        ReaderConfig::Xml(config) => {
            Box::new(XmlReader::new(xml_options(pipeline, config, context), XmlContainer::of(context.source_uri), input))
        }
    };
    let wanted = |group: &String| pipeline.columns.iter().any(|c| c.source == *group) || pipeline.time_column == *group;
    let constants: Vec<(String, String)> =
        context.captures.iter().filter(|(group, _)| wanted(group) && !reader.columns().contains(group)).cloned().collect();
    if constants.is_empty() || reader.columns().is_empty() {
        return Ok(reader);
    }
    Ok(Box::new(WithConstants::new(reader, constants)))
}

/// The fields a file of named fields (JSON, XML) is read for: the time and
/// the mapped columns, but for those the key's captures give.
fn named_fields(pipeline: &Pipeline, context: ReadContext<'_>) -> Vec<String> {
    let captured = |name: &str| context.captures.iter().any(|(group, _)| group == name);
    let mapped = pipeline.columns.iter().map(|c| &c.source).filter(|source| source.as_str() != EXTRA_JSON_COLUMN);
    std::iter::once(&pipeline.time_column).chain(mapped).filter(|name| !captured(name)).cloned().collect()
}

fn json_lines_options(pipeline: &Pipeline, config: &JsonLinesConfig, context: ReadContext<'_>) -> JsonLinesOptions {
    JsonLinesOptions { fields: named_fields(pipeline, context), unknown_fields: config.unknown_fields }
}

fn xml_options(pipeline: &Pipeline, config: &XmlConfig, context: ReadContext<'_>) -> XmlOptions {
    XmlOptions { record_element: config.record_element.clone(), fields: named_fields(pipeline, context), repeated: config.repeated.clone() }
}

/// Adds columns whose value is the same in every row, after the reader's own.
struct WithConstants<'a> {
    inner: Box<dyn RecordReader + 'a>,
    columns: Vec<String>,
    values: Vec<String>,
}

impl<'a> WithConstants<'a> {
    fn new(inner: Box<dyn RecordReader + 'a>, constants: Vec<(String, String)>) -> Self {
        let mut columns = inner.columns().to_vec();
        let (names, values): (Vec<String>, Vec<String>) = constants.into_iter().unzip();
        columns.extend(names);
        Self { inner, columns, values }
    }
}

impl RecordReader for WithConstants<'_> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self) -> Result<Option<RawBatch>, ConvertError> {
        let Some(mut batch) = self.inner.next_batch()? else { return Ok(None) };
        let rows = batch.num_rows();
        batch.columns.extend(self.values.iter().map(|value| Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, rows)))));
        Ok(Some(batch))
    }

    fn record_separator(&self) -> String {
        self.inner.record_separator()
    }
}
