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
//! assert_eq!(batch.column(1).value(0), "2");
//! assert_eq!((batch.rejected[0].line, batch.rejected[0].check), (2, "shape"));
//! # Ok::<(), ConvertError>(())
//! ```

mod csv;
mod grid;
mod json_lines;
mod tar_members;
mod xml;

use std::io::Read;

use arrow_array::StringArray;

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
///
/// Every row's fields lie in one text, and a column is read through where
/// its fields lie in it. A reader copies a record into the batch whole, and a
/// field that the engine parses into a number is never copied on its own: an
/// Arrow array per column costs a copy and an offset for every field, which
/// was a tenth of a CSV's conversion time in profiles. Text columns become
/// Arrow arrays when they are typed ([`RawColumn::to_array`]).
#[derive(Debug)]
pub struct RawBatch {
    text: String,
    /// Where each field lies in `text`, row by row: row `r`'s field `c` is
    /// at `r * width + c`.
    fields: Vec<(u32, u32)>,
    /// Fields a row has in `text`.
    width: usize,
    /// The values of the columns after those, the same in every row.
    constants: Vec<String>,
    /// The source line each row starts on, from 1.
    pub lines: Vec<u64>,
    /// Records the reader could not split into the columns, in source order.
    pub rejected: Vec<ReaderRejection>,
}

impl RawBatch {
    pub fn num_rows(&self) -> usize {
        self.lines.len()
    }

    pub fn num_columns(&self) -> usize {
        self.width + self.constants.len()
    }

    /// The column at `index`, in the order of [`RecordReader::columns`].
    ///
    /// # Panics
    /// If `index` is not below [`RawBatch::num_columns`].
    pub fn column(&self, index: usize) -> RawColumn<'_> {
        assert!(index < self.num_columns(), "column {index} of a batch of {}", self.num_columns());
        RawColumn { batch: self, index }
    }

    /// The texts of `row`, column by column.
    pub fn row(&self, row: usize) -> impl Iterator<Item = &str> {
        (0..self.num_columns()).map(move |column| self.column(column).value(row))
    }

    /// Adds a column after the others whose value is `value` in every row.
    pub fn push_constant(&mut self, value: String) {
        self.constants.push(value);
    }
}

/// One column of a [`RawBatch`]: a text per row.
#[derive(Debug, Clone, Copy)]
pub struct RawColumn<'a> {
    batch: &'a RawBatch,
    index: usize,
}

impl<'a> RawColumn<'a> {
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of `row`.
    ///
    /// # Panics
    /// If `row` is not below [`RawColumn::len`].
    pub fn value(&self, row: usize) -> &'a str {
        let batch = self.batch;
        match self.index.checked_sub(batch.width) {
            None => field(&batch.text, batch.fields[row * batch.width + self.index]),
            Some(constant) => {
                assert!(row < batch.num_rows(), "row {row} of a batch of {}", batch.num_rows());
                &batch.constants[constant]
            }
        }
    }

    /// The texts of every row, in order.
    pub fn iter(&self) -> ColumnTexts<'a> {
        let batch = self.batch;
        match self.index.checked_sub(batch.width) {
            None => {
                let fields = batch.fields.get(self.index..).unwrap_or_default().iter().step_by(batch.width);
                ColumnTexts::Read { text: &batch.text, fields }
            }
            Some(constant) => ColumnTexts::Constant(std::iter::repeat_n(&batch.constants[constant], batch.num_rows())),
        }
    }

    /// The column as an Arrow array, without nulls.
    pub fn to_array(&self) -> StringArray {
        StringArray::from_iter_values(self.iter())
    }
}

/// A record the reader itself rejects: wrong shape or encoding.
#[derive(Debug, Clone)]
pub struct ReaderRejection {
    pub line: u64,
    /// `shape`, `syntax`, `encoding` or `length`.
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

/// The field of a batch's `text` that lies at `(start, end)`.
fn field(text: &str, (start, end): (u32, u32)) -> &str {
    &text[start as usize..end as usize]
}

/// The texts of a [`RawColumn`], row by row.
pub enum ColumnTexts<'a> {
    Read { text: &'a str, fields: std::iter::StepBy<std::slice::Iter<'a, (u32, u32)>> },
    Constant(std::iter::RepeatN<&'a String>),
}

impl<'a> Iterator for ColumnTexts<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        match self {
            Self::Read { text, fields } => fields.next().map(|&bounds| field(text, bounds)),
            Self::Constant(value) => value.next().map(String::as_str),
        }
    }

    /// Picks the kind of column once, not at every row, for loops that run
    /// through a whole column (`for_each`, `sum`, ...).
    #[inline]
    fn fold<B, F: FnMut(B, &'a str) -> B>(self, init: B, f: F) -> B {
        match self {
            Self::Read { text, fields } => fields.map(|&bounds| field(text, bounds)).fold(init, f),
            Self::Constant(value) => value.map(String::as_str).fold(init, f),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::Read { fields, .. } => fields.size_hint(),
            Self::Constant(value) => value.size_hint(),
        }
    }
}

impl ExactSizeIterator for ColumnTexts<'_> {}

/// Field bounds a batch reserves room for at once (512 KiB): a full batch
/// of a narrow table, while a wide one's grow only as its rows come.
const FIELDS_RESERVED: usize = 64 << 10;

/// Collects rows into a [`RawBatch`] up to its bounds.
pub struct RawBatchBuilder {
    text: String,
    fields: Vec<(u32, u32)>,
    width: usize,
    lines: Vec<u64>,
    rejected: Vec<ReaderRejection>,
    rejected_bytes: usize,
}

impl RawBatchBuilder {
    pub fn new(columns: usize) -> Self {
        Self {
            text: String::with_capacity(MAX_BATCH_BYTES),
            fields: Vec::with_capacity((MAX_BATCH_ROWS * columns).min(FIELDS_RESERVED)),
            width: columns,
            lines: Vec::with_capacity(MAX_BATCH_ROWS),
            rejected: Vec::new(),
            rejected_bytes: 0,
        }
    }

    /// Appends one row; `fields` has one value per column (a missing one is
    /// empty, one too many is dropped).
    pub fn push_row<'a>(&mut self, line: u64, fields: impl IntoIterator<Item = &'a str>) {
        let (text_before, fields_before) = (self.text.len(), self.fields.len());
        let mut fields = fields.into_iter().fuse();
        for _ in 0..self.width {
            let start = self.text.len();
            self.text.push_str(fields.next().unwrap_or_default());
            self.fields.push((start as u32, self.text.len() as u32));
        }
        self.end_row(line, text_before, fields_before);
    }

    /// Appends one row whose fields lie in `record` at `ranges`, one per
    /// column: a record read whole is copied whole.
    pub fn push_record(&mut self, line: u64, record: &str, ranges: impl Iterator<Item = std::ops::Range<usize>>) {
        let (text_before, fields_before) = (self.text.len(), self.fields.len());
        self.text.push_str(record);
        let at = |offset: usize| (text_before + offset) as u32;
        self.fields.extend(ranges.take(self.width).map(|range| (at(range.start), at(range.end))));
        debug_assert_eq!(self.fields.len() - fields_before, self.width, "a record has a field per column");
        self.end_row(line, text_before, fields_before);
    }

    /// Keeps the row just appended if its offsets fit in a `u32`, which only
    /// a row of gigabytes' do not; such a row is rejected instead.
    fn end_row(&mut self, line: u64, text_before: usize, fields_before: usize) {
        if u32::try_from(self.text.len()).is_ok() {
            self.lines.push(line);
            return;
        }
        let bytes = self.text.len() - text_before;
        self.text.truncate(text_before);
        self.fields.truncate(fields_before);
        let reason = format!("the record is {bytes} bytes long, more than a record may be (4 GiB)");
        self.reject(ReaderRejection { line, check: "length", column: None, reason, record: String::new() });
    }

    pub fn reject(&mut self, rejection: ReaderRejection) {
        self.rejected_bytes += rejection.record.len();
        self.rejected.push(rejection);
    }

    pub fn is_full(&self) -> bool {
        self.lines.len() + self.rejected.len() >= MAX_BATCH_ROWS || self.text.len() + self.rejected_bytes >= MAX_BATCH_BYTES
    }

    /// The batch, or `None` when nothing was added.
    pub fn finish(self) -> Option<RawBatch> {
        if self.lines.is_empty() && self.rejected.is_empty() {
            return None;
        }
        Some(RawBatch {
            text: self.text,
            fields: self.fields,
            width: self.width,
            constants: Vec::new(),
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
        self.values.iter().for_each(|value| batch.push_constant(value.clone()));
        Ok(Some(batch))
    }

    fn record_separator(&self) -> String {
        self.inner.record_separator()
    }
}
