//! Delimited text.
//!
//! Records are split here (see [`records`]) rather than by arrow-csv's
//! `Decoder`: the decoder fails a whole batch on one record that is not UTF-8
//! or has the wrong number of fields, and does not say which line a row came
//! from. Here such a record is rejected on its own, with its line, and the
//! rest load.

mod records;
mod three_bytes;

use std::io::{BufRead, BufReader, Read};

use self::records::Records;

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
    /// A header wider than this fails the file.
    pub max_columns: usize,
}

impl CsvOptions {
    pub fn of(config: &CsvConfig) -> Self {
        Self {
            delimiter: config.delimiter_byte().expect("the delimiter is checked when the pipeline is loaded"),
            header: config.header,
            column_names: config.column_names.clone(),
            skip_lines: config.skip_lines,
            max_columns: config.max_columns,
        }
    }
}

pub struct CsvReader<R: Read> {
    records: Records<BufReader<R>>,
    columns: Vec<String>,
    separator: String,
    /// Lines skipped before the first record.
    line_offset: u64,
}

fn read_error(line: Option<u64>, error: &dyn std::fmt::Display) -> ConvertError {
    ConvertError::Read { line, message: error.to_string() }
}

impl<R: Read> CsvReader<R> {
    /// Reads past the skipped lines and the header.
    pub fn new(options: CsvOptions, input: R) -> Result<Self, ConvertError> {
        let mut buffered = BufReader::with_capacity(64 * 1024, input);
        skip_bom_and_lines(&mut buffered, options.skip_lines).map_err(|e| read_error(None, &e))?;
        let line_offset = options.skip_lines as u64;
        let mut reader = Self {
            records: Records::new(buffered, options.delimiter),
            columns: options.column_names,
            separator: (options.delimiter as char).to_string(),
            line_offset,
        };
        if options.header {
            reader.columns = reader.read_header(options.max_columns)?;
        }
        Ok(reader)
    }

    fn read_header(&mut self, max_columns: usize) -> Result<Vec<String>, ConvertError> {
        if self.next_record()?.is_none() {
            return Ok(Vec::new());
        }
        let header = self.records.fields();
        if header.len() > max_columns {
            return Err(ConvertError::Header {
                problem: format!("the header names {} columns, more than the {max_columns} a file may have", header.len()),
                fix: "check that the delimiter is right, or raise reader.max_columns in the pipeline".into(),
            });
        }
        Ok(header.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect())
    }

    /// Reads the next record; its line, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<u64>, ConvertError> {
        match self.records.next_record() {
            Ok(line) => Ok(line.map(|line| line + self.line_offset)),
            Err(e) => Err(read_error(Some(self.records.line() + self.line_offset), &e)),
        }
    }

    fn lossy_record(&self) -> String {
        let fields: Vec<String> = self.records.fields().iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        fields.join(&self.separator)
    }

    /// Adds the current record to `batch`, or its rejection.
    fn add_record(&self, line: u64, batch: &mut RawBatchBuilder) {
        // The fields lie end to end in one buffer, which is checked at once;
        // each field is then valid if it starts and ends on a character
        // boundary, as every byte of ASCII text is. The field at fault is
        // looked for only when one is not.
        let record = self.records.fields();
        let text = std::str::from_utf8(record.as_slice()).ok();
        let ranges = || (0..record.len()).map(|i| record.range(i));
        let on_boundaries =
            |text: &str| text.is_ascii() || ranges().all(|r| text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
        let valid = text.filter(|text| on_boundaries(text));
        match valid {
            None => {
                let field = record.iter().position(|f| std::str::from_utf8(f).is_err()).unwrap_or(0);
                batch.reject(ReaderRejection::encoding(line, field, self.columns.get(field).cloned(), self.lossy_record()));
            }
            Some(_) if record.len() != self.columns.len() => {
                batch.reject(ReaderRejection::shape(line, self.columns.len(), record.len(), self.lossy_record()));
            }
            Some(text) => batch.push_record(line, text, ranges()),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The line each record starts on, read in reads of `chunk` bytes.
    fn lines_of(text: &[u8], chunk: usize) -> Vec<u64> {
        struct Chunked<'a>(&'a [u8], usize);
        impl Read for Chunked<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let options =
            CsvOptions { delimiter: b',', header: false, column_names: vec!["a".into(), "b".into()], skip_lines: 0, max_columns: 10 };
        let mut reader = CsvReader::new(options, Chunked(text, chunk)).expect("a reader");
        std::iter::from_fn(|| reader.next_record().expect("a record")).collect()
    }

    #[test]
    fn records_are_numbered_by_the_line_they_start_on_whatever_the_line_ends() {
        let cases: [(&[u8], &[u64]); 6] = [
            (b"a,1\nb,2\nc,3\n", &[1, 2, 3]),
            (b"a,1\r\nb,2\r\nc,3\r\n", &[1, 2, 3]),
            (b"a,1\rb,2\rc,3", &[1, 2, 3]),
            (b"\"a\nA\",1\nb,2\n\"c\r\nC\r\n\",3\r\nd,4", &[1, 3, 4, 7]),
            (b"\na,1\n\n\r\nb,2\r\n\r\n\rc,3\n", &[2, 5, 8]),
            (b"a,\"1\r\r\n\",2\nb,2", &[1, 4]),
        ];
        for (text, expected) in cases {
            for chunk in [1, 2, 3, 64 * 1024] {
                assert_eq!(lines_of(text, chunk), expected, "{:?} read {chunk} bytes at a time", String::from_utf8_lossy(text));
            }
        }
    }

    #[test]
    fn a_header_wider_than_the_limit_fails_the_file_with_the_setting_to_change() {
        let options = CsvOptions { delimiter: b',', header: true, column_names: Vec::new(), skip_lines: 0, max_columns: 3 };
        let error = CsvReader::new(options, "a,b,c,d\n1,2,3,4\n".as_bytes()).err().expect("too wide");
        assert!(error.to_string().contains("4 columns") && error.to_string().contains("reader.max_columns"), "{error}");
    }
}
