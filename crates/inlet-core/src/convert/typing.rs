//! Typing a column of source text into an Arrow array, a column at a time.

use std::sync::Arc;

use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray, StringArray};
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder, NullBuffer};

use super::read::RawColumn;
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
pub(super) fn type_column(raw: RawColumn<'_>, column_type: ColumnType, nulls: &NullValues) -> Typed {
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
    let text = trim(text);
    parse_plain_decimal(text).or_else(|| text.parse().ok())
}

/// The powers of ten a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// A plain decimal of at most 15 digits (`-12.345`), as most measured values
/// are written. Its digits and its power of ten are both exact doubles, so
/// the one division rounds correctly and the result is `str::parse`'s;
/// anything else is left to `str::parse`. Float parsing was a third of the
/// engine thread's time in profiles.
fn parse_plain_decimal(text: &str) -> Option<f64> {
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    let (whole, fraction) = match digits.iter().position(|&byte| byte == b'.') {
        Some(point) => (&digits[..point], &digits[point + 1..]),
        None => (digits, &[][..]),
    };
    if !(1..=15).contains(&(whole.len() + fraction.len())) {
        return None;
    }
    let mantissa = decimal_digits(fraction, decimal_digits(whole, 0)?)?;
    // At most 15 digits, so the signed conversion is exact, and one
    // instruction where an unsigned one takes five without AVX-512.
    let value = mantissa as i64 as f64 / EXACT_POWERS_OF_TEN[fraction.len()];
    Some(if negative { -value } else { value })
}

/// `digits` read as decimal digits after those of `value`; `None` if one is not.
fn decimal_digits(digits: &[u8], value: u64) -> Option<u64> {
    digits.iter().try_fold(value, |value, &byte| {
        let digit = byte.wrapping_sub(b'0');
        (digit < 10).then(|| value * 10 + u64::from(digit))
    })
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

/// Text stays text; only the null values become null.
fn strings(raw: RawColumn<'_>, nulls: &NullValues) -> Typed {
    let array = raw.to_array();
    let valid: Vec<bool> = raw.iter().map(|text| !nulls.matches(text)).collect();
    let array = match valid.iter().all(|v| *v) {
        true => array,
        false => {
            let (offsets, values, _) = array.into_parts();
            StringArray::new(offsets, values, Some(NullBuffer::from(valid)))
        }
    };
    Typed { array: Arc::new(array), bad_rows: Vec::new() }
}

/// The rows of a column that come out null: its null values and its bad ones.
#[derive(Default)]
struct Missing {
    rows: Vec<usize>,
    bad_rows: Vec<usize>,
}

impl Missing {
    /// `text` parsed, or `fallback` for a row that is null.
    #[inline]
    fn parsed<V>(&mut self, row: usize, text: &str, nulls: &NullValues, parse: impl Fn(&str) -> Option<V>, fallback: V) -> V {
        if nulls.matches(text) {
            self.rows.push(row);
            return fallback;
        }
        parse(text).unwrap_or_else(|| {
            self.rows.push(row);
            self.bad_rows.push(row);
            fallback
        })
    }

    /// Most columns have no null, and then no null buffer.
    fn null_buffer(&self, len: usize) -> Option<NullBuffer> {
        (!self.rows.is_empty()).then(|| {
            let mut valid = BooleanBufferBuilder::new(len);
            valid.append_n(len, true);
            self.rows.iter().for_each(|&row| valid.set_bit(row, false));
            NullBuffer::new(valid.finish())
        })
    }

    fn typed(self, array: impl Array + 'static) -> Typed {
        Typed { array: Arc::new(array), bad_rows: self.bad_rows }
    }
}

fn primitive<T: ArrowPrimitiveType>(raw: RawColumn<'_>, nulls: &NullValues, parse: impl Fn(&str) -> Option<T::Native>) -> Typed {
    let mut missing = Missing::default();
    let mut values = Vec::with_capacity(raw.len());
    raw.iter().enumerate().for_each(|(row, text)| values.push(missing.parsed(row, text, nulls, &parse, T::Native::default())));
    let array = PrimitiveArray::<T>::new(values.into(), missing.null_buffer(raw.len()));
    missing.typed(array)
}

fn booleans(raw: RawColumn<'_>, nulls: &NullValues) -> Typed {
    let mut missing = Missing::default();
    let mut values = Vec::with_capacity(raw.len());
    raw.iter().enumerate().for_each(|(row, text)| values.push(missing.parsed(row, text, nulls, parse_bool, false)));
    let array = BooleanArray::new(BooleanBuffer::from(values), missing.null_buffer(raw.len()));
    missing.typed(array)
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
    fn a_null_value_is_null_and_a_bad_one_is_null_and_named() {
        let mut batch = crate::convert::read::RawBatchBuilder::new(2);
        for (line, row) in [[" yes", "1.5"], ["NA", "NA"], ["maybe", "x"], ["F", "-2"]].iter().enumerate() {
            batch.push_row(line as u64 + 1, row.iter().copied());
        }
        let batch = batch.finish().expect("four rows");
        let nulls = NullValues::new(&["NA".to_owned()]);
        let booleans = type_column(batch.column(0), ColumnType::Boolean, &nulls);
        let expected: arrow_array::BooleanArray = [Some(true), None, None, Some(false)].into_iter().collect();
        assert_eq!((booleans.array.as_ref(), booleans.bad_rows), (&expected as &dyn Array, vec![2]));
        let floats = type_column(batch.column(1), ColumnType::Float64, &nulls);
        let expected = arrow_array::Float64Array::from(vec![Some(1.5), None, None, Some(-2.0)]);
        assert_eq!((floats.array.as_ref(), floats.bad_rows), (&expected as &dyn Array, vec![2]));
    }

    #[test]
    fn trimming_takes_unicode_whitespace_and_leaves_other_text_whole() {
        assert_eq!(trim("1.5"), "1.5");
        assert_eq!(trim(" 1.5 "), "1.5");
        assert_eq!(trim("\u{a0}1.5\u{2003}"), "1.5");
        assert_eq!(trim("é"), "é");
        assert_eq!(trim(""), "");
    }

    #[test]
    fn plain_decimals_read_exactly_as_str_parse_reads_them() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let fixed = ["0", "-0.0", "1.", ".5", "+7.25", "120.125", "999999999999999", "0.000000000000001", "123456.789012345"];
        let random = (0..200_000).map(|_| {
            let digits = (next() % 16) as u32;
            let value = next() % 10u64.pow(digits.max(1));
            let point = (next() % u64::from(digits + 1)) as usize;
            let text = format!("{value:0width$}", width = digits as usize);
            let sign = if next() % 2 == 0 { "-" } else { "" };
            format!("{sign}{}.{}", &text[..point], &text[point..])
        });
        for text in fixed.iter().map(|t| t.to_string()).chain(random) {
            let expected: Option<f64> = text.parse().ok();
            assert_eq!(parse_float(&text).map(f64::to_bits), expected.map(f64::to_bits), "{text:?}");
        }
        for not_plain in ["1e5", "1234567890123456.5", "inf", "NaN", "1.2.3", "-", ".", "1,5"] {
            assert_eq!(parse_float(not_plain).map(f64::to_bits), not_plain.parse::<f64>().ok().map(f64::to_bits), "{not_plain:?}");
        }
    }
}
