//! How a source's columns map onto the output table: computed once, from the
//! reader's column names and the pipeline.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::{ColumnInfo, ConvertError, time_data_type};
use crate::pipeline::{
    BadValueAction, Check, CheckAction, CheckKind, CheckTarget, ColumnType, LOCAL_TIME_COLUMN, PartitionSource, Pipeline, TimeType,
    UnmappedColumns, names,
};

fn arrow_type(column_type: ColumnType) -> DataType {
    match column_type {
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::String => DataType::Utf8,
        ColumnType::Boolean => DataType::Boolean,
    }
}

/// A data column's place in the source and in the output.
#[derive(Debug)]
pub(super) struct DataColumn {
    pub(super) source_index: usize,
    pub(super) info: ColumnInfo,
    pub(super) column_type: ColumnType,
    pub(super) checks: Vec<Check>,
    pub(super) qc_slot: Option<usize>,
}

/// How the fields of each record map onto the output.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) time_index: usize,
    pub(super) time_checks: Vec<Check>,
    pub(super) time_qc_slot: Option<usize>,
    pub(super) data: Vec<DataColumn>,
    pub(super) qc_count: usize,
    pub(super) schema: SchemaRef,
}

fn keeps_qc(check: &Check) -> bool {
    matches!(check.action, CheckAction::Flag | CheckAction::Remove)
}

impl Plan {
    pub(super) fn new(pipeline: &Pipeline, header: &[String]) -> Result<Self, ConvertError> {
        let time_index = header.iter().position(|h| h.trim() == pipeline.time_column).ok_or_else(|| ConvertError::Header {
            problem: format!("the time column {:?} is not in the header {:?}", pipeline.time_column, header),
            fix: format!("set time.column in {} to one of the header's names", pipeline.source_file),
        })?;
        let mut data: Vec<DataColumn> = Vec::new();
        for (index, raw_name) in header.iter().enumerate() {
            if index == time_index {
                continue;
            }
            if let Some(column) = data_column(pipeline, header, index, raw_name.trim(), &data)? {
                data.push(column);
            }
        }
        let time_checks: Vec<Check> = pipeline.checks.iter().filter(|c| c.target == CheckTarget::Time).cloned().collect();
        let mut qc_count = 0;
        let time_qc_slot = time_checks.iter().any(keeps_qc).then(|| {
            qc_count += 1;
            0
        });
        for column in &mut data {
            if column.checks.iter().any(keeps_qc) || (pipeline.reader.on_bad_value() == BadValueAction::Null && !column.checks.is_empty()) {
                column.qc_slot = Some(qc_count);
                qc_count += 1;
            }
        }
        let schema = output_schema(pipeline, &data, time_qc_slot.is_some());
        Ok(Plan { time_index, time_checks, time_qc_slot, data, qc_count, schema })
    }
}

/// The output column for the source column at `index`; `None` when the
/// pipeline ignores it.
fn data_column(
    pipeline: &Pipeline,
    header: &[String],
    index: usize,
    source: &str,
    earlier: &[DataColumn],
) -> Result<Option<DataColumn>, ConvertError> {
    let (name, column_type, units, description) = match pipeline.columns.iter().find(|c| c.source == source) {
        Some(mapped) => (mapped.name.clone(), mapped.data_type, mapped.units.clone(), mapped.description.clone()),
        None => match pipeline.unmapped_columns {
            UnmappedColumns::Ignore => return Ok(None),
            UnmappedColumns::Fail => {
                return Err(ConvertError::Header {
                    problem: format!("column {source:?} is not described in the pipeline, which has `unmapped_columns: fail`"),
                    fix: format!("add it to `columns` in {}, or set unmapped_columns to infer or ignore", pipeline.source_file),
                });
            }
            UnmappedColumns::Infer => {
                let (name, units) = names::split_units(source);
                (name, ColumnType::Float64, units, None)
            }
        },
    };
    let is_local_time = pipeline.local_timezone.is_some() && name == LOCAL_TIME_COLUMN;
    // A column the table is partitioned by is the partition's source, so
    // only the keys made from time or location are taken.
    let is_derived_key = pipeline.partition_by.iter().any(|(key, source)| *key == name && !matches!(source, PartitionSource::Column(_)));
    if name == pipeline.time_name || is_local_time || is_derived_key || names::is_quality_column(&name) {
        return Err(ConvertError::Header {
            problem: format!("column {source:?} would be named {name:?}, which is reserved (time, local_time, a partition key, or qc_*)"),
            fix: format!("map it to another name in `columns` of {}", pipeline.source_file),
        });
    }
    if let Some(other) = earlier.iter().find(|c| c.info.name == name) {
        return Err(ConvertError::Header {
            problem: format!("columns {:?} and {source:?} would both be named {name:?}", header[other.source_index]),
            fix: format!("map one of them to another name in `columns` of {}", pipeline.source_file),
        });
    }
    let checks = checks_of(pipeline, &name, column_type);
    let data_type = arrow_type(column_type);
    Ok(Some(DataColumn {
        source_index: index,
        info: ColumnInfo { name, data_type, units, description },
        column_type,
        checks,
        qc_slot: None,
    }))
}

/// The checks that apply to a data column: bounds only to numbers.
fn checks_of(pipeline: &Pipeline, name: &str, column_type: ColumnType) -> Vec<Check> {
    pipeline
        .checks
        .iter()
        .filter(|c| match &c.target {
            CheckTarget::AllData => true,
            CheckTarget::Column(n) => n == name,
            CheckTarget::Time => false,
        })
        .filter(|c| {
            let numeric_bound = !matches!(c.kind, CheckKind::Missing);
            !(numeric_bound && matches!(column_type, ColumnType::String | ColumnType::Boolean))
        })
        .cloned()
        .collect()
}

/// time, the data columns, then a QC column for time and for each checked data column.
fn output_schema(pipeline: &Pipeline, data: &[DataColumn], time_has_qc: bool) -> SchemaRef {
    let mut columns = vec![ColumnInfo {
        name: pipeline.time_name.clone(),
        data_type: time_data_type(pipeline.time_type),
        units: None,
        description: Some(match pipeline.time_type {
            TimeType::Timestamp => format!("from {:?}, in UTC", pipeline.time_column),
            TimeType::Date => format!("from {:?}", pipeline.time_column),
        }),
    }];
    if let Some(timezone) = pipeline.local_timezone {
        columns.push(ColumnInfo {
            name: LOCAL_TIME_COLUMN.into(),
            data_type: DataType::Timestamp(TimeUnit::Millisecond, None),
            units: None,
            description: Some(format!("the wall-clock time in {timezone}, without a time zone")),
        });
    }
    columns.extend(data.iter().map(|c| c.info.clone()));
    let qc_info = |name: &str| ColumnInfo {
        name: names::quality_column(name),
        data_type: DataType::Int32,
        units: None,
        description: Some(format!(
            "quality bits for {name}: 1 missing, 2 fail_min, 4 fail_max, 8 warn_min, 16 warn_max, 32 monotonic, 64 duplicate_time"
        )),
    };
    if time_has_qc {
        columns.push(qc_info(&pipeline.time_name));
    }
    columns.extend(data.iter().filter(|c| c.qc_slot.is_some()).map(|c| qc_info(&c.info.name)));
    let fields: Vec<Field> = columns.iter().map(|c| c.field(c.name != pipeline.time_name)).collect();
    Arc::new(Schema::new(fields))
}
