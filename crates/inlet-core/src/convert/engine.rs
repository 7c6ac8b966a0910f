//! One raw batch through typing and checks, a column at a time.
//!
//! Each stage marks rows in a shared [`Verdicts`]: the first reason to reject
//! a row is the one it keeps, and the first row (in source order) to fail the
//! file is the one the error names, so the outcome is the same as checking
//! row by row, stage by stage.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Date32Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_buffer::BooleanBuffer;
use arrow_schema::SchemaRef;
use arrow_select::filter::filter_record_batch;
use arrow_select::nullif::nullif;
use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

use super::plan::{DataColumn, Plan};
use super::read::RawBatch;
use super::typing::{NullValues, bad_value_reason, type_column};
use super::{ConvertError, MILLIS_PER_DAY, RowCounts, check_failed, checks, rejects_schema};
use crate::pipeline::{BadValueAction, CheckAction, CheckKind, Pipeline, TimeType};

/// A reason to keep a row out of the table.
struct Rejection {
    check: &'static str,
    column: Option<String>,
    value: Option<String>,
    reason: String,
}

/// What becomes of each row of one batch.
struct Verdicts<'b> {
    lines: &'b [u64],
    rejected: Vec<bool>,
    reasons: Vec<(usize, Rejection)>,
    failure: Option<(usize, ConvertError)>,
}

impl<'b> Verdicts<'b> {
    fn new(lines: &'b [u64]) -> Self {
        Self { lines, rejected: vec![false; lines.len()], reasons: Vec::new(), failure: None }
    }

    /// Rejects `row`, unless an earlier stage already has.
    fn reject(&mut self, row: usize, rejection: impl FnOnce() -> Rejection) {
        if !self.rejected[row] {
            self.rejected[row] = true;
            self.reasons.push((row, rejection()));
        }
    }

    /// Fails the file at `row`, unless an earlier row (or stage) already has.
    fn fail(&mut self, row: usize, error: impl FnOnce(u64) -> ConvertError) {
        if self.failure.as_ref().is_none_or(|(failed, _)| row < *failed) {
            self.failure = Some((row, error(self.lines[row])));
        }
    }
}

/// A batch after its checks: the rows to write, and the rejected ones.
pub(super) struct Checked {
    pub(super) data: RecordBatch,
    pub(super) rejects: Option<RecordBatch>,
}

/// Types and checks batch after batch, carrying what spans batches.
pub(super) struct Engine<'a> {
    pipeline: &'a Pipeline,
    plan: Plan,
    nulls: NullValues,
    source_uri: &'a str,
    record_separator: String,
    /// The last written row's time, for `monotonic` and `duplicate_time`.
    previous_time: Option<i64>,
    /// Rows often share a timestamp text (a trading day, an hour of
    /// readings): the last one parsed, and its value.
    last_time: Option<(String, i64)>,
    pub(super) counts: RowCounts,
}

impl<'a> Engine<'a> {
    pub(super) fn new(pipeline: &'a Pipeline, plan: Plan, source_uri: &'a str, record_separator: &str) -> Self {
        Self {
            pipeline,
            plan,
            nulls: NullValues::new(&pipeline.null_values),
            source_uri,
            record_separator: record_separator.to_owned(),
            previous_time: None,
            last_time: None,
            counts: RowCounts::default(),
        }
    }

    pub(super) fn schema(&self) -> &SchemaRef {
        &self.plan.schema
    }

    pub(super) fn process(&mut self, raw: &RawBatch) -> Result<Checked, ConvertError> {
        let mut verdicts = Verdicts::new(&raw.lines);
        let times = self.type_time(raw, &mut verdicts);
        let alive = BooleanBuffer::collect_bool(times.len(), |row| times[row].is_some());
        let mut qc = vec![vec![0i32; times.len()]; self.plan.qc_count];
        let mut columns = Vec::with_capacity(self.plan.data.len());
        for column in &self.plan.data {
            columns.push(self.type_data(column, raw, &alive, &mut verdicts));
        }
        for (column, values) in self.plan.data.iter().zip(&mut columns) {
            check_column(column, values, raw, &alive, &mut qc, &mut verdicts);
        }
        self.check_time_order(&times, raw, &mut qc, &mut verdicts);
        if let Some((_, error)) = verdicts.failure {
            return Err(error);
        }
        let keep = BooleanBuffer::collect_bool(times.len(), |row| !verdicts.rejected[row]);
        self.count(raw, &keep, &qc, verdicts.reasons.len());
        let rejects = self.rejects_batch(raw, verdicts.reasons);
        Ok(Checked { data: self.data_batch(&times, columns, qc, keep), rejects })
    }

    fn type_time(&mut self, raw: &RawBatch, verdicts: &mut Verdicts<'_>) -> Vec<Option<i64>> {
        let texts = raw.column(self.plan.time_index);
        let mut times = Vec::with_capacity(texts.len());
        texts.iter().enumerate().for_each(|(row, text)| times.push(self.time_of(text, row, verdicts)));
        times
    }

    /// The row's time; `None` when it has none, and the row is rejected or fails the file.
    fn time_of(&mut self, text: &str, row: usize, verdicts: &mut Verdicts<'_>) -> Option<i64> {
        if self.nulls.matches(text) {
            let fail = self.plan.time_checks.iter().find(|c| c.kind == CheckKind::Missing && c.action == CheckAction::Fail);
            match fail {
                Some(check) => verdicts.fail(row, |line| {
                    check_failed("missing", &self.pipeline.time_name, line, text, "the time is missing".into(), &check.origin)
                }),
                None => verdicts.reject(row, || rejection("missing", &self.pipeline.time_name, text, "the time is missing".into())),
            }
            return None;
        }
        let parsed = match &self.last_time {
            Some((last, ms)) if last == text => Ok(*ms),
            _ => self.pipeline.time.parse(text).inspect(|ms| self.last_time = Some((text.to_owned(), *ms))),
        };
        parsed
            .map_err(|reason| match self.pipeline.reader.on_bad_value() {
                BadValueAction::Fail => {
                    verdicts.fail(row, |line| ConvertError::BadValue { line, column: self.pipeline.time_name.clone(), reason })
                }
                _ => verdicts.reject(row, || rejection("type", &self.pipeline.time_name, text, reason)),
            })
            .ok()
    }

    /// Types a data column; what happens to a bad value is `reader.on_bad_value`'s to say.
    fn type_data(&self, column: &DataColumn, raw: &RawBatch, alive: &BooleanBuffer, verdicts: &mut Verdicts<'_>) -> ArrayRef {
        let texts = raw.column(column.source_index);
        let typed = type_column(texts, column.column_type, &self.nulls);
        for row in typed.bad_rows.into_iter().filter(|row| alive.value(*row)) {
            let text = texts.value(row);
            let reason = || bad_value_reason(text, column.column_type);
            let name = &column.info.name;
            match self.pipeline.reader.on_bad_value() {
                BadValueAction::Fail => verdicts.fail(row, |line| ConvertError::BadValue { line, column: name.clone(), reason: reason() }),
                BadValueAction::Null => {}
                BadValueAction::Reject => verdicts.reject(row, || rejection("type", name, text, reason())),
            }
        }
        typed.array
    }

    /// `monotonic` and `duplicate_time` compare a row with the last one
    /// written, in this batch or an earlier one, so they go row by row.
    fn check_time_order(&mut self, times: &[Option<i64>], raw: &RawBatch, qc: &mut [Vec<i32>], verdicts: &mut Verdicts<'_>) {
        if self.plan.time_checks.iter().all(|c| c.kind == CheckKind::Missing) {
            return;
        }
        let texts = raw.column(self.plan.time_index);
        for (row, time) in times.iter().enumerate() {
            let Some(time) = *time else { continue };
            for check in &self.plan.time_checks {
                let Some(reason) = out_of_order(check.kind, self.previous_time, time) else { continue };
                match check.action {
                    CheckAction::Flag | CheckAction::Remove => {
                        if let Some(slot) = self.plan.time_qc_slot {
                            qc[slot][row] |= check.kind.qc_mask();
                        }
                    }
                    CheckAction::Reject => {
                        verdicts.reject(row, || rejection(check.kind.name(), &self.pipeline.time_name, texts.value(row), reason))
                    }
                    CheckAction::Fail => {
                        let text = texts.value(row);
                        return verdicts.fail(row, |line| {
                            check_failed(check.kind.name(), &self.pipeline.time_name, line, text, reason, &check.origin)
                        });
                    }
                }
            }
            if !verdicts.rejected[row] {
                self.previous_time = Some(time);
            }
        }
    }

    fn count(&mut self, raw: &RawBatch, keep: &BooleanBuffer, qc: &[Vec<i32>], rejected: usize) {
        self.counts.rows_in += (raw.num_rows() + raw.rejected.len()) as u64;
        self.counts.rows_rejected += (rejected + raw.rejected.len()) as u64;
        self.counts.rows_out += keep.count_set_bits() as u64;
        self.counts.values_flagged += qc.iter().map(|bits| keep.set_indices().filter(|row| bits[*row] != 0).count() as u64).sum::<u64>();
    }

    /// The kept rows, in the plan's schema.
    fn data_batch(&self, times: &[Option<i64>], columns: Vec<ArrayRef>, qc: Vec<Vec<i32>>, keep: BooleanBuffer) -> RecordBatch {
        let time: Vec<i64> = times.iter().map(|t| t.unwrap_or_default()).collect();
        let local_time = self.pipeline.local_timezone.map(|timezone| Arc::new(wall_clock_times(&time, timezone)) as ArrayRef);
        let mut arrays: Vec<ArrayRef> = vec![time_array(time, self.pipeline.time_type)];
        arrays.extend(local_time);
        arrays.extend(columns);
        arrays.extend(qc.into_iter().map(|bits| Arc::new(Int32Array::from(bits)) as ArrayRef));
        let batch = RecordBatch::try_new(Arc::clone(&self.plan.schema), arrays).expect("the arrays follow the plan's schema");
        if keep.count_set_bits() == batch.num_rows() {
            return batch;
        }
        filter_record_batch(&batch, &BooleanArray::new(keep, None)).expect("the mask has one value per row")
    }

    /// The batch's rejected rows, the reader's among them, in source order.
    fn rejects_batch(&self, raw: &RawBatch, reasons: Vec<(usize, Rejection)>) -> Option<RecordBatch> {
        let mut rows: Vec<(u64, Rejection, String)> = raw
            .rejected
            .iter()
            .map(|r| {
                let rejection = Rejection { check: r.check, column: r.column.clone(), value: None, reason: r.reason.clone() };
                (r.line, rejection, r.record.clone())
            })
            .collect();
        rows.extend(reasons.into_iter().map(|(row, rejection)| (raw.lines[row], rejection, self.record_text(raw, row))));
        if rows.is_empty() {
            return None;
        }
        rows.sort_by_key(|(line, ..)| *line);
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|_| self.source_uri))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|(line, ..)| *line as i64))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, r, _)| r.check))),
            Arc::new(rows.iter().map(|(_, r, _)| r.column.as_deref()).collect::<StringArray>()),
            Arc::new(rows.iter().map(|(_, r, _)| r.value.as_deref()).collect::<StringArray>()),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, r, _)| r.reason.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(.., record)| record.as_str()))),
        ];
        Some(RecordBatch::try_new(rejects_schema(), arrays).expect("the arrays follow the rejects schema"))
    }

    fn record_text(&self, raw: &RawBatch, row: usize) -> String {
        raw.row(row).collect::<Vec<_>>().join(&self.record_separator)
    }
}

/// The time column as the table stores it.
fn time_array(millis: Vec<i64>, time_type: TimeType) -> ArrayRef {
    match time_type {
        TimeType::Timestamp => Arc::new(TimestampMillisecondArray::from(millis).with_timezone("UTC")),
        // A date's pipeline has no time zone, so its days begin at midnight UTC.
        TimeType::Date => Arc::new(Date32Array::from_iter_values(millis.iter().map(|ms| ms.div_euclid(MILLIS_PER_DAY) as i32))),
    }
}

/// What clocks in `timezone` showed at each UTC time. Rows of a batch tend
/// to share a time, so the offset is looked up again only when it changes.
fn wall_clock_times(times: &[i64], timezone: Tz) -> TimestampMillisecondArray {
    let mut last: Option<(i64, i64)> = None;
    let offset_at = |ms: i64| {
        let utc = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().naive_utc();
        i64::from(timezone.offset_from_utc_datetime(&utc).fix().local_minus_utc()) * 1000
    };
    TimestampMillisecondArray::from_iter_values(times.iter().map(|&ms| {
        let offset = match last {
            Some((previous, offset)) if previous == ms => offset,
            _ => offset_at(ms),
        };
        last = Some((ms, offset));
        ms + offset
    }))
}

fn rejection(check: &'static str, column: &str, value: &str, reason: String) -> Rejection {
    Rejection { check, column: Some(column.to_owned()), value: Some(value.to_owned()), reason }
}

/// Runs a column's checks in their order; a `remove` hides the value from the
/// checks after it, as it does from the table.
fn check_column(
    column: &DataColumn,
    values: &mut ArrayRef,
    raw: &RawBatch,
    alive: &BooleanBuffer,
    qc: &mut [Vec<i32>],
    verdicts: &mut Verdicts<'_>,
) {
    let texts = raw.column(column.source_index);
    for check in &column.checks {
        let caught = &checks::violations(check, values) & alive;
        if caught.count_set_bits() == 0 {
            continue;
        }
        match check.action {
            CheckAction::Flag | CheckAction::Remove => {
                if let Some(slot) = column.qc_slot {
                    caught.set_indices().for_each(|row| qc[slot][row] |= check.kind.qc_mask());
                }
                if check.action == CheckAction::Remove {
                    *values = nullif(values, &BooleanArray::new(caught, None)).expect("the mask has one value per row");
                }
            }
            CheckAction::Reject => {
                for row in caught.set_indices() {
                    verdicts.reject(row, || {
                        rejection(check.kind.name(), &column.info.name, texts.value(row), checks::reason(check, values, row))
                    });
                }
            }
            CheckAction::Fail => {
                let row = caught.set_indices().next().expect("counted above");
                let (text, reason) = (texts.value(row), checks::reason(check, values, row));
                verdicts.fail(row, |line| check_failed(check.kind.name(), &column.info.name, line, text, reason, &check.origin));
            }
        }
    }
}

/// Why `time` breaks the order `kind` asks for, after `previous`.
fn out_of_order(kind: CheckKind, previous: Option<i64>, time: i64) -> Option<String> {
    match (kind, previous) {
        (CheckKind::Monotonic, Some(previous)) if time < previous => {
            Some(format!("time goes back from the previous row's by {} ms", previous - time))
        }
        (CheckKind::DuplicateTime, Some(previous)) if time == previous => Some("time repeats the previous row's".to_owned()),
        _ => None,
    }
}
