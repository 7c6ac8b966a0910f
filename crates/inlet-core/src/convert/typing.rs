//! Typing a column of source text into an Arrow array, a column at a time.

use std::sync::Arc;

use arrow_array::builder::BooleanBuilder;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray, StringArray};
use arrow_buffer::{BooleanBufferBuilder, NullBuffer};

use crate::pipeline::ColumnType;

/// The texts that mean "no value", compared after trimming.
pub(super) struct NullValues {
    values: Vec<String>,
    /// Bit `n` is set when a null value is `n` bytes long (63 for any
    /// longer): most cells are ruled out by their length alone.
    lengths: u64,
}

impl NullValues {
    pub(super) fn new<'a>(values: impl IntoIterator<Item = &'a String>) -> Self {
        let values: Vec<String> = values.into_iter().cloned().collect();
        let lengths = values.iter().fold(0, |mask, v| mask | length_bit(v));
        Self { values, lengths }
    }

    pub(super) fn matches(&self, text: &str) -> bool {
        let text = trim(text);
        // A handful of short strings: a scan beats hashing each cell.
        self.lengths & length_bit(text) != 0 && self.values.iter().any(|null| null.as_str() == text)
    }
}

fn length_bit(text: &str) -> u64 {
    1 << text.len().min(63)
}

/// `text` without surrounding whitespace. Most cells have none, and two byte
/// tests say so faster than `str::trim`, which must decode characters.
pub(super) fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// A typed column and the rows whose text did not parse (null in the array).
pub(super) struct Typed {
    pub(super) array: ArrayRef,
    pub(super) bad_rows: Vec<usize>,
}

/// Types `raw`; a null value or a bad one becomes null.
pub(super) fn type_column(raw: &Arc<StringArray>, column_type: ColumnType, nulls: &NullValues) -> Typed {
    match column_type {
        ColumnType::String => strings(raw, nulls),
        ColumnType::Float64 => primitive::<Float64Type>(raw, nulls, parse_float),
        ColumnType::Int64 => primitive::<Int64Type>(raw, nulls, parse_int),
        ColumnType::Boolean => booleans(raw, nulls),
    }
}

/// Why `text` is not a value of `column_type`, for the row's rejection.
pub(super) fn bad_value_reason(text: &str, column_type: ColumnType) -> String {
    let trimmed = trim(text);
    match column_type {
        ColumnType::Float64 => format!("{trimmed:?} is not a number"),
        ColumnType::Int64 => format!("{trimmed:?} is not a whole number"),
        ColumnType::Boolean => format!("{trimmed:?} is not true or false"),
        ColumnType::String => unreachable!("any text is a string"),
    }
}

fn parse_float(text: &str) -> Option<f64> {
    trim(text).parse().ok()
}

fn parse_int(text: &str) -> Option<i64> {
    let trimmed = trim(text);
    trimmed.parse::<i64>().ok().or_else(|| {
        // Exports often write whole numbers as 1200.0.
        trimmed.parse::<f64>().ok().filter(|v| v.fract() == 0.0 && v.abs() < 9.0e15).map(|v| v as i64)
    })
}

fn parse_bool(text: &str) -> Option<bool> {
    match trim(text).to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Text stays text; only the null values become null, and a column without
/// any is shared, not copied.
fn strings(raw: &Arc<StringArray>, nulls: &NullValues) -> Typed {
    let valid: Vec<bool> = raw.iter().map(|text| !nulls.matches(text.unwrap_or_default())).collect();
    let array: ArrayRef = if valid.iter().all(|v| *v) {
        Arc::clone(raw) as ArrayRef
    } else {
        let (offsets, values, _) = raw.as_ref().clone().into_parts();
        Arc::new(StringArray::new(offsets, values, Some(NullBuffer::from(valid))))
    };
    Typed { array, bad_rows: Vec::new() }
}

fn primitive<T: ArrowPrimitiveType>(raw: &StringArray, nulls: &NullValues, parse: impl Fn(&str) -> Option<T::Native>) -> Typed {
    let mut values = Vec::with_capacity(raw.len());
    let mut valid = BooleanBufferBuilder::new(raw.len());
    let mut bad_rows = Vec::new();
    for row in 0..raw.len() {
        let text = raw.value(row);
        let parsed = if nulls.matches(text) { None } else { parse(text).or_else(|| bad(&mut bad_rows, row)) };
        valid.append(parsed.is_some());
        values.push(parsed.unwrap_or_default());
    }
    let array = PrimitiveArray::<T>::new(values.into(), Some(NullBuffer::new(valid.finish())));
    Typed { array: Arc::new(array), bad_rows }
}

fn booleans(raw: &StringArray, nulls: &NullValues) -> Typed {
    let mut builder = BooleanBuilder::with_capacity(raw.len());
    let mut bad_rows = Vec::new();
    for row in 0..raw.len() {
        let text = raw.value(row);
        let parsed = if nulls.matches(text) { None } else { parse_bool(text).or_else(|| bad(&mut bad_rows, row)) };
        builder.append_option(parsed);
    }
    Typed { array: Arc::new(builder.finish()), bad_rows }
}

fn bad<T>(bad_rows: &mut Vec<usize>, row: usize) -> Option<T> {
    bad_rows.push(row);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_values_match_after_trimming_whatever_their_length() {
        let long = "x".repeat(80);
        let nulls = NullValues::new(&["".to_owned(), "NA".to_owned(), long.clone()]);
        for null in ["", "  ", "NA", " NA\t", "\u{a0}NA\u{a0}", long.as_str(), &format!(" {long}")] {
            assert!(nulls.matches(null), "{null:?} is a null value");
        }
        for value in ["NB", "N", "NAN", "1.5", &"x".repeat(79), &"x".repeat(81)] {
            assert!(!nulls.matches(value), "{value:?} is not a null value");
        }
    }

    #[test]
    fn trimming_takes_unicode_whitespace_and_leaves_other_text_whole() {
        assert_eq!(trim("1.5"), "1.5");
        assert_eq!(trim(" 1.5 "), "1.5");
        assert_eq!(trim("\u{a0}1.5\u{2003}"), "1.5");
        assert_eq!(trim("é"), "é");
        assert_eq!(trim(""), "");
    }
}
