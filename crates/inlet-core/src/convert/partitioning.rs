//! The partition of every row of a batch, from its time and column values.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use chrono::{Datelike, TimeZone, Timelike, Utc};

use super::MILLIS_PER_DAY;
use super::sink::PartitionedWriter;
use crate::partition::DEFAULT_PARTITION;
use crate::pipeline::{PartitionSource, Pipeline, names};

/// Computes partition ids for the rows of data batches.
pub(super) struct Partitioner<'a> {
    pipeline: &'a Pipeline,
    location: Option<&'a str>,
    /// Whether any partition key comes from a column: then every row counts,
    /// not only a change of time.
    by_column: bool,
    /// The last time seen and its partition: sorted sources repeat it for
    /// long runs of rows.
    last: Option<(i64, usize)>,
}

impl<'a> Partitioner<'a> {
    pub(super) fn new(pipeline: &'a Pipeline, location: Option<&'a str>) -> Self {
        let by_column = pipeline.partition_by.iter().any(|(_, source)| matches!(source, PartitionSource::Column(_)));
        Self { pipeline, location, by_column, last: None }
    }

    /// One partition id per row of `batch`, as `writer` numbers partitions.
    pub(super) fn ids(&mut self, batch: &RecordBatch, writer: &mut PartitionedWriter) -> Vec<usize> {
        let times = millis(batch.column(0));
        let columns: Vec<Option<&StringArray>> = self
            .pipeline
            .partition_by
            .iter()
            .map(|(_, source)| match source {
                PartitionSource::Column(name) => batch.column_by_name(name).and_then(|c| c.as_string_opt::<i32>()),
                _ => None,
            })
            .collect();
        (0..batch.num_rows())
            .map(|row| {
                let time = times[row];
                match self.last {
                    Some((last, id)) if last == time && !self.by_column => id,
                    _ => {
                        let id = writer.partition_id(&self.values(time, &columns, row));
                        self.last = Some((time, id));
                        id
                    }
                }
            })
            .collect()
    }

    /// The partition values of a row, one per `partition_by` entry.
    fn values(&self, time_ms: i64, columns: &[Option<&StringArray>], row: usize) -> Vec<String> {
        let local = Utc.timestamp_millis_opt(time_ms).single().map(|t| t.with_timezone(&self.pipeline.partition_timezone));
        self.pipeline
            .partition_by
            .iter()
            .zip(columns)
            .map(|((_, source), column)| match (source, &local) {
                (PartitionSource::Location, _) => self.location.unwrap_or(DEFAULT_PARTITION).to_owned(),
                (PartitionSource::Year, Some(t)) => format!("{:04}", t.year()),
                (PartitionSource::Month, Some(t)) => format!("{:02}", t.month()),
                (PartitionSource::Day, Some(t)) => format!("{:02}", t.day()),
                (PartitionSource::Hour, Some(t)) => format!("{:02}", t.hour()),
                (PartitionSource::Column(_), _) => column
                    .filter(|c| c.is_valid(row))
                    .map_or_else(|| DEFAULT_PARTITION.to_owned(), |c| names::partition_value(c.value(row))),
                (_, None) => DEFAULT_PARTITION.into(),
            })
            .collect()
    }
}

/// The times of a data batch's time column, in milliseconds since the epoch.
fn millis(column: &ArrayRef) -> Cow<'_, [i64]> {
    match column.data_type() {
        DataType::Date32 => {
            Cow::Owned(column.as_primitive::<Date32Type>().values().iter().map(|day| i64::from(*day) * MILLIS_PER_DAY).collect())
        }
        _ => Cow::Borrowed(column.as_primitive::<TimestampMillisecondType>().values()),
    }
}
