//! Delimited text.
//!
//! Records are split by the `csv` crate rather than arrow-csv's `Decoder`:
//! the decoder fails a whole batch on one record that is not UTF-8 or has the
//! wrong number of fields, and does not say which line a row came from. Here
//! such a record is rejected on its own, with its line, and the rest load.

use std::io::{BufRead, BufReader, Read};

use super::{RawBatch, RawBatchBuilder, ReaderRejection, RecordReader};
use crate::convert::ConvertError;
use crate::pipeline::CsvConfig;

/// What the CSV reader takes from `reader:`.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub header: bool,
    /// The column names of a file without a header.
    pub column_names: Vec<String>,
    pub skip_lines: usize,
}

impl CsvOptions {
    pub fn of(config: &CsvConfig) -> Self {
        Self {
            delimiter: config.delimiter_byte().expect("the delimiter is checked when the pipeline is loaded"),
            header: config.header,
            column_names: config.column_names.clone(),
            skip_lines: config.skip_lines,
        }
    }
}

pub struct CsvReader<R: Read> {
    csv: csv::Reader<BufReader<R>>,
    columns: Vec<String>,
    separator: String,
    /// Lines skipped before the first record.
    line_offset: u64,
    /// Newlines inside quoted fields so far: the `csv` crate counts record
    /// terminators, and line numbers should match an editor's.
    embedded_newlines: u64,
    record: csv::ByteRecord,
}

fn read_error(line: Option<u64>, error: &dyn std::fmt::Display) -> ConvertError {
    ConvertError::Read { line, message: error.to_string() }
}

/// Newlines inside the record's fields: the fields lie end to end in one
/// buffer, and one pass over it is cheaper than one per field. Most records
/// have none, which `memchr` finds fastest.
fn newlines_in(record: &csv::ByteRecord) -> u64 {
    memchr::memchr_iter(b'\n', record.as_slice()).count() as u64
}

impl<R: Read> CsvReader<R> {
    /// Reads past the skipped lines and the header.
    pub fn new(options: CsvOptions, input: R) -> Result<Self, ConvertError> {
        let mut buffered = BufReader::with_capacity(64 * 1024, input);
        skip_bom_and_lines(&mut buffered, options.skip_lines).map_err(|e| read_error(None, &e))?;
        let line_offset = options.skip_lines as u64;
        let csv = csv::ReaderBuilder::new().has_headers(false).delimiter(options.delimiter).flexible(true).from_reader(buffered);
        let mut reader = Self {
            csv,
            columns: options.column_names,
            separator: (options.delimiter as char).to_string(),
            line_offset,
            embedded_newlines: 0,
            record: csv::ByteRecord::new(),
        };
        if options.header {
            reader.columns = reader.read_header()?;
        }
        Ok(reader)
    }

    fn read_header(&mut self) -> Result<Vec<String>, ConvertError> {
        match self.csv.read_byte_record(&mut self.record) {
            Ok(true) => {
                self.embedded_newlines = newlines_in(&self.record);
                Ok(self.record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect())
            }
            Ok(false) => Ok(Vec::new()),
            Err(e) => Err(read_error(Some(1 + self.line_offset), &e)),
        }
    }

    /// Reads the next record into `self.record`; its line, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<u64>, ConvertError> {
        match self.csv.read_byte_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(read_error(e.position().map(|p| p.line() + self.line_offset), &e)),
        }
        let line = self.record.position().map_or(0, |p| p.line()) + self.line_offset + self.embedded_newlines;
        self.embedded_newlines += newlines_in(&self.record);
        Ok(Some(line))
    }

    fn lossy_record(&self) -> String {
        let fields: Vec<String> = self.record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        fields.join(&self.separator)
    }

    /// Adds the current record to `batch`, or its rejection.
    fn add_record(&self, line: u64, batch: &mut RawBatchBuilder) {
        // The fields lie end to end in one buffer, which is checked at once;
        // each field is then valid if it starts and ends on a character
        // boundary, as every byte of ASCII text is. The field at fault is
        // looked for only when one is not.
        let text = std::str::from_utf8(self.record.as_slice()).ok();
        let ranges = || (0..self.record.len()).map(|i| self.record.range(i).expect("a field of the record"));
        let on_boundaries =
            |text: &str| text.is_ascii() || ranges().all(|r| text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
        let valid = text.filter(|text| on_boundaries(text));
        match valid {
            None => {
                let field = self.record.iter().position(|f| std::str::from_utf8(f).is_err()).unwrap_or(0);
                batch.reject(ReaderRejection::encoding(line, field, self.columns.get(field).cloned(), self.lossy_record()));
            }
            Some(_) if self.record.len() != self.columns.len() => {
                batch.reject(ReaderRejection::shape(line, self.columns.len(), self.record.len(), self.lossy_record()));
            }
            Some(text) => batch.push_row(line, ranges().map(|r| &text[r])),
        }
    }
}

impl<R: Read + Send> RecordReader for CsvReader<R> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self) -> Result<Option<RawBatch>, ConvertError> {
        if self.columns.is_empty() {
            return Ok(None);
        }
        let mut batch = RawBatchBuilder::new(self.columns.len());
        while !batch.is_full() {
            let Some(line) = self.next_record()? else { break };
            self.add_record(line, &mut batch);
        }
        Ok(batch.finish())
    }

    fn record_separator(&self) -> String {
        self.separator.clone()
    }
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
