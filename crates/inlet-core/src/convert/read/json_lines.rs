//! JSON lines: one object per line. Nested objects flatten into columns
//! named by their path joined with `__`, so `{"sensor": {"id": 7}}` gives
//! `sensor__id`; a field the pipeline names whose value is an object or an
//! array comes as that JSON text.
//!
//! Lines are parsed with `serde_json` rather than arrow-json's `Decoder`:
//! the decoder fails a whole batch on one line that is not JSON, and types
//! values itself, while here a bad line is rejected on its own with its line
//! number, and values reach the engine as text, to be typed and checked as
//! every other format's are. Each line is walked once by serde visitors that
//! write a column's text straight into its buffer and pass over fields no
//! column reads, with no `Value` tree of the line.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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
    /// Every path above a column's path.
    prefixes: HashSet<String>,
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
        let prefixes = columns.iter().flat_map(|path| path.match_indices("__").map(|(at, _)| path[..at].to_owned())).collect();
        let values = vec![String::new(); columns.len()];
        Self {
            input: BufReader::with_capacity(64 * 1024, input),
            columns,
            index,
            prefixes,
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
        self.values.iter_mut().for_each(String::clear);
        self.unknown.clear();
        let fields = Fields {
            index: &self.index,
            prefixes: &self.prefixes,
            keep_unknown: self.keep_unknown,
            values: &mut self.values,
            unknown: &mut self.unknown,
        };
        match read_object(text, fields) {
            Ok(None) => {}
            Ok(Some(kind)) => {
                let reason = format!("the line holds a JSON {kind}, not an object");
                return batch.reject(ReaderRejection::syntax(self.line, reason, text.to_owned()));
            }
            Err(e) => return batch.reject(ReaderRejection::syntax(self.line, format!("the line is not JSON: {e}"), text.to_owned())),
        }
        if self.keep_unknown && !self.unknown.is_empty() {
            let extra = self.index[EXTRA_JSON_COLUMN];
            self.values[extra] = Value::Object(std::mem::take(&mut self.unknown)).to_string();
        }
        batch.push_row(self.line, self.values.iter().map(String::as_str));
    }
}

/// Parses one line straight into its columns, with no tree of the whole
/// object: a `serde_json::Value` per line was most of this reader's time.
/// `None` for an object; else the kind of JSON value the line holds.
fn read_object(text: &str, fields: Fields<'_>) -> Result<Option<&'static str>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let kind = deserializer.deserialize_any(LineVisitor(fields))?;
    deserializer.end()?;
    Ok(kind)
}

/// Where a line's fields go.
struct Fields<'a> {
    index: &'a HashMap<String, usize>,
    /// Paths above a column's: their objects are walked into.
    prefixes: &'a HashSet<String>,
    keep_unknown: bool,
    values: &'a mut [String],
    unknown: &'a mut Map<String, Value>,
}

impl Fields<'_> {
    /// Reads an object's fields, under `prefix`.
    fn read_map<'de, A: MapAccess<'de>>(&mut self, prefix: &str, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let path = if prefix.is_empty() { key.into_owned() } else { format!("{prefix}__{key}") };
            map.next_value_seed(FieldSeed { fields: self, path })?;
        }
        Ok(())
    }
}

/// The line's top level, which must be an object.
struct LineVisitor<'a>(Fields<'a>);

impl<'de> Visitor<'de> for LineVisitor<'_> {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<Self::Value, A::Error> {
        self.0.read_map("", map)?;
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some("array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Some("string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some("number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some("number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some("number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Some("null"))
    }
}

/// A key, borrowed from the line unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

/// One field's value, at its flattened path.
struct FieldSeed<'f, 'a> {
    fields: &'f mut Fields<'a>,
    path: String,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let fields = self.fields;
        match fields.index.get(&self.path) {
            Some(&column) if self.path != EXTRA_JSON_COLUMN || !fields.keep_unknown => {
                deserializer.deserialize_any(TextVisitor(&mut fields.values[column]))?;
            }
            _ if fields.keep_unknown || fields.prefixes.contains(&self.path) => {
                deserializer.deserialize_any(NestedVisitor { fields, path: self.path })?;
            }
            _ => {
                IgnoredAny::deserialize(deserializer)?;
            }
        }
        Ok(())
    }
}

/// A value no column takes whole: an object is walked into, and anything
/// else is kept in `extra` when unknown fields are.
struct NestedVisitor<'f, 'a> {
    fields: &'f mut Fields<'a>,
    path: String,
}

impl NestedVisitor<'_, '_> {
    fn keep<E>(self, value: Value) -> Result<(), E> {
        if self.fields.keep_unknown {
            self.fields.unknown.insert(self.path, value);
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for NestedVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.fields.read_map(&self.path, map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        self.keep(value)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.keep(Value::String(text.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.keep(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.keep(Value::from(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.keep(Value::from(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        self.keep(Value::from(n))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.keep(Value::Null)
    }
}

/// A column's value as text, written into the column's reused buffer: a
/// string as it is, a number or boolean as written, `null` as no value, and
/// an object or array as its JSON.
struct TextVisitor<'t>(&'t mut String);

impl<'de> Visitor<'de> for TextVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.0.push_str(text);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.0.push_str(if b { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.0.push_str(itoa::Buffer::new().format(n));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.0.push_str(itoa::Buffer::new().format(n));
        Ok(())
    }

    // The shortest text that reads back as the same number, as serde_json
    // writes it; std's formatting was a tenth of this reader's time.
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        self.0.push_str(zmij::Buffer::new().format(n));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.0.push_str(&value.to_string());
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        self.0.push_str(&value.to_string());
        Ok(())
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
        batch.row(row).collect()
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
    fn numbers_keep_the_text_that_reads_back_as_the_same_value() {
        let batch = read(br#"{"time":"t","sensor":{"id":7},"pm25":1e-7,"tags":18446744073709551615}"#, UnknownFields::Drop);
        assert_eq!(row(&batch, 0), ["t", "7", "1e-7", "18446744073709551615"]);
        let batch = read(br#"{"time":"t","pm25":-0.1,"tags":true}"#, UnknownFields::Drop);
        assert_eq!(row(&batch, 0), ["t", "", "-0.1", "true"]);
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
