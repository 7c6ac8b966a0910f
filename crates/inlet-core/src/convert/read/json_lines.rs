//! JSON lines: one object per line. Nested objects flatten into columns
//! named by their path joined with `__`, so `{"sensor": {"id": 7}}` gives
//! `sensor__id`; a field the pipeline names whose value is an object or an
//! array comes as that JSON text.
//!
//! Lines are parsed with `serde_json` rather than arrow-json's `Decoder`:
//! the decoder fails a whole batch on one line that is not JSON, and types
//! values itself, while here a bad line is rejected on its own with its line
//! number, and values reach the engine as text, to be typed and checked as
//! every other format's are.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use super::{RawBatch, RawBatchBuilder, ReaderRejection, RecordReader};
use crate::convert::ConvertError;
use crate::pipeline::{EXTRA_JSON_COLUMN, UnknownFields};

/// What the JSON-lines reader is told.
#[derive(Debug, Clone)]
pub struct JsonLinesOptions {
    /// The flattened paths to read, in column order.
    pub fields: Vec<String>,
    pub unknown_fields: UnknownFields,
}

pub struct JsonLinesReader<R: Read> {
    input: BufReader<R>,
    columns: Vec<String>,
    index: HashMap<String, usize>,
    keep_unknown: bool,
    line: u64,
    bytes: Vec<u8>,
    /// One line's values, by column; empty is no value.
    values: Vec<String>,
    unknown: Map<String, Value>,
}

impl<R: Read> JsonLinesReader<R> {
    pub fn new(options: JsonLinesOptions, input: R) -> Self {
        let mut columns = options.fields;
        let keep_unknown = options.unknown_fields == UnknownFields::Keep;
        if keep_unknown {
            columns.push(EXTRA_JSON_COLUMN.to_owned());
        }
        let index = columns.iter().enumerate().map(|(i, name)| (name.clone(), i)).collect();
        let values = vec![String::new(); columns.len()];
        Self {
            input: BufReader::with_capacity(64 * 1024, input),
            columns,
            index,
            keep_unknown,
            line: 0,
            bytes: Vec::new(),
            values,
            unknown: Map::new(),
        }
    }

    /// Reads the next line into `bytes`, without its line end; `false` at the end.
    fn next_line(&mut self) -> Result<bool, ConvertError> {
        self.bytes.clear();
        self.line += 1;
        let read = self
            .input
            .read_until(b'\n', &mut self.bytes)
            .map_err(|e| ConvertError::Read { line: Some(self.line), message: e.to_string() })?;
        while self.bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            self.bytes.pop();
        }
        Ok(read > 0)
    }

    /// Adds the line in `bytes` to `batch`, or its rejection.
    fn add_line(&mut self, batch: &mut RawBatchBuilder) {
        let Ok(text) = std::str::from_utf8(&self.bytes) else {
            let record = String::from_utf8_lossy(&self.bytes).into_owned();
            return batch.reject(ReaderRejection::encoding(self.line, 0, None, record));
        };
        if text.trim().is_empty() {
            return;
        }
        let object = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => object,
            Ok(other) => {
                return batch.reject(ReaderRejection::syntax(
                    self.line,
                    format!("the line holds a JSON {}, not an object", kind(&other)),
                    text.to_owned(),
                ));
            }
            Err(e) => return batch.reject(ReaderRejection::syntax(self.line, format!("the line is not JSON: {e}"), text.to_owned())),
        };
        self.values.iter_mut().for_each(String::clear);
        self.unknown.clear();
        self.flatten(String::new(), object);
        if self.keep_unknown && !self.unknown.is_empty() {
            let extra = self.index[EXTRA_JSON_COLUMN];
            self.values[extra] = Value::Object(std::mem::take(&mut self.unknown)).to_string();
        }
        batch.push_row(self.line, self.values.iter().map(String::as_str));
    }

    /// Puts each field of `object` in its column, under `prefix`.
    fn flatten(&mut self, prefix: String, object: Map<String, Value>) {
        for (key, value) in object {
            let path = if prefix.is_empty() { key } else { format!("{prefix}__{key}") };
            match (self.index.get(&path), value) {
                (Some(&column), value) if path != EXTRA_JSON_COLUMN || !self.keep_unknown => self.values[column] = text_of(value),
                (_, Value::Object(inner)) => self.flatten(path, inner),
                (_, value) if self.keep_unknown => {
                    self.unknown.insert(path, value);
                }
                _ => {}
            }
        }
    }
}

fn text_of(value: Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text,
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        nested => nested.to_string(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<R: Read + Send> RecordReader for JsonLinesReader<R> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_batch(&mut self) -> Result<Option<RawBatch>, ConvertError> {
        let mut batch = RawBatchBuilder::new(self.columns.len());
        while !batch.is_full() && self.next_line()? {
            self.add_line(&mut batch);
        }
        Ok(batch.finish())
    }

    fn record_separator(&self) -> String {
        " | ".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], unknown_fields: UnknownFields) -> RawBatch {
        let fields = ["time", "sensor__id", "pm25", "tags"].map(String::from).to_vec();
        let mut reader = JsonLinesReader::new(JsonLinesOptions { fields, unknown_fields }, text);
        let batch = reader.next_batch().unwrap().expect("rows");
        assert!(reader.next_batch().unwrap().is_none());
        batch
    }

    fn row(batch: &RawBatch, row: usize) -> Vec<&str> {
        batch.columns.iter().map(|c| c.value(row)).collect()
    }

    #[test]
    fn nested_fields_flatten_and_the_rest_is_kept_as_one_object() {
        let text =
            br#"{"time":"2024-01-15T03:00:00Z","sensor":{"id":"s1","site":{"name":"Nicosia"}},"pm25":12.5,"tags":["a","b"],"ok":true}"#;
        let batch = read(text, UnknownFields::Keep);
        assert_eq!(
            row(&batch, 0),
            ["2024-01-15T03:00:00Z", "s1", "12.5", "[\"a\",\"b\"]", "{\"ok\":true,\"sensor__site__name\":\"Nicosia\"}"]
        );
        let batch = read(text, UnknownFields::Drop);
        assert_eq!(row(&batch, 0), ["2024-01-15T03:00:00Z", "s1", "12.5", "[\"a\",\"b\"]"]);
    }

    #[test]
    fn a_missing_field_or_null_is_no_value_and_extra_is_empty_without_unknowns() {
        let batch = read(b"{\"time\":\"t\",\"pm25\":null}\r\n", UnknownFields::Keep);
        assert_eq!(row(&batch, 0), ["t", "", "", "", ""]);
    }

    #[test]
    fn a_line_that_is_not_a_json_object_is_rejected_alone_with_its_line() {
        let text = b"{\"time\":\"a\"}\n{\"time\": \"b\"\n\n[1, 2]\n\"\xff\"\n{\"time\":\"c\"}";
        let batch = read(text, UnknownFields::Drop);
        assert_eq!(batch.lines, [1, 6]);
        let rejected: Vec<(u64, &str)> = batch.rejected.iter().map(|r| (r.line, r.check)).collect();
        assert_eq!(rejected, [(2, "syntax"), (4, "syntax"), (5, "encoding")]);
        assert!(batch.rejected[0].reason.contains("not JSON"), "{:?}", batch.rejected[0]);
        assert!(batch.rejected[1].reason.contains("a JSON array, not an object"), "{:?}", batch.rejected[1]);
    }
}
