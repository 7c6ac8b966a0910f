//! Value checks, a whole column at a time: each check is a mask of the rows
//! it catches, from arrow's comparison kernels.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array};
use arrow_buffer::BooleanBuffer;
use arrow_ord::cmp;

use crate::pipeline::{Check, CheckKind};

/// The rows of `values` that `check` catches. A null value fails only `missing`.
pub(super) fn violations(check: &Check, values: &ArrayRef) -> BooleanBuffer {
    match check.kind {
        CheckKind::Missing => match values.logical_nulls() {
            Some(nulls) => !nulls.inner(),
            None => BooleanBuffer::new_unset(values.len()),
        },
        kind => {
            let numbers = as_numbers(values).expect("bound checks apply to numeric columns only");
            let bound = Float64Array::new_scalar(check.value.expect("validated: bound checks have a value"));
            let caught = if below(kind) { cmp::lt(&numbers, &bound) } else { cmp::gt(&numbers, &bound) };
            true_and_valid(&caught.expect("both sides are Float64"))
        }
    }
}

/// Why `check` caught the value at `row`.
pub(super) fn reason(check: &Check, values: &ArrayRef, row: usize) -> String {
    match check.kind {
        CheckKind::Missing => "the value is missing".to_owned(),
        kind => {
            let value = as_numbers(values).expect("numeric").value(row);
            let bound = check.value.expect("validated");
            let side = if below(kind) { "below" } else { "above" };
            format!("{value} is {side} the {} of {bound}", kind.name())
        }
    }
}

fn below(kind: CheckKind) -> bool {
    matches!(kind, CheckKind::FailMin | CheckKind::WarnMin)
}

/// Integers are compared as floats, so a bound of 0.5 means what it says.
fn as_numbers(values: &ArrayRef) -> Option<Float64Array> {
    if let Some(floats) = values.as_primitive_opt::<Float64Type>() {
        return Some(floats.clone());
    }
    values.as_primitive_opt::<Int64Type>().map(|ints| ints.unary::<_, Float64Type>(|v| v as f64))
}

/// A kernel's result as a plain mask: null (no value to compare) is false.
pub(super) fn true_and_valid(mask: &BooleanArray) -> BooleanBuffer {
    match mask.nulls() {
        Some(nulls) => mask.values() & nulls.inner(),
        None => mask.values().clone(),
    }
}
