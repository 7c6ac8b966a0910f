//! The table catalog, in the Glue Data Catalog's model.
//!
//! A table has data columns (with Glue/Hive types), STRING partition keys, a
//! location and parameters; a partition is a list of values plus its location.
//! The local backend keeps this model in a JSON file; the Glue backend maps it
//! one to one onto `CreateTable` / `BatchCreatePartition`.

mod local;

pub use local::LocalCatalog;

use std::collections::BTreeMap;

use arrow_schema::{DataType, Schema, TimeUnit};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{BoxError, Classify, ErrorClass, describe};
use crate::metadata::{DESCRIPTION_KEY, UNITS_KEY};

/// A column as the catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogColumn {
    pub name: String,
    /// A Glue/Hive type name: `string`, `bigint`, `double`, `boolean`, `int`, `timestamp`.
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Free-form parameters; `units` among them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

impl CatalogColumn {
    pub fn units(&self) -> Option<&str> {
        self.parameters.get("units").map(String::as_str)
    }
}

/// A table definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDefinition {
    pub database: String,
    pub name: String,
    pub columns: Vec<CatalogColumn>,
    pub partition_keys: Vec<CatalogColumn>,
    /// `s3://<bucket>/<table>/`.
    pub location: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// One registered partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionDefinition {
    /// One value per partition key, in key order.
    pub values: Vec<String>,
    pub location: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("table {database}.{table} does not exist")]
    TableNotFound { database: String, table: String },

    #[error(
        "column {column:?} of {table} is {existing} in the catalog but {incoming} in the new data; map the source column to a new name, or drop the table to redefine it"
    )]
    TypeConflict { table: String, column: String, existing: String, incoming: String },

    #[error(
        "table {table} is partitioned by {existing:?} in the catalog but the new data by {incoming:?}; keep partition_by unchanged, or write to a new table"
    )]
    PartitionKeyConflict { table: String, existing: Vec<String>, incoming: Vec<String> },

    #[error("the catalog at {path} cannot be {operation}: {message}; {fix}")]
    Storage { path: String, operation: &'static str, message: String, fix: &'static str },

    #[error("catalog call {operation} on {target} failed ({class:?}): {message}")]
    Backend {
        operation: &'static str,
        target: String,
        class: ErrorClass,
        /// The source and its chain, flattened.
        message: String,
        #[source]
        source: BoxError,
    },

    /// Another writer changed the table between this writer's read and its
    /// update. [`register`] reads it again and retries.
    #[error("table {database}.{table} was changed by another writer; read it again and retry")]
    Conflict { database: String, table: String },
}

impl CatalogError {
    pub fn backend(operation: &'static str, target: impl Into<String>, class: ErrorClass, source: impl Into<BoxError>) -> Self {
        let source = source.into();
        CatalogError::Backend { operation, target: target.into(), class, message: describe(source.as_ref()), source }
    }
}

impl Classify for CatalogError {
    fn class(&self) -> ErrorClass {
        match self {
            CatalogError::Backend { class, .. } => *class,
            CatalogError::Conflict { .. } => ErrorClass::Transient,
            CatalogError::Storage { .. }
            | CatalogError::TableNotFound { .. }
            | CatalogError::TypeConflict { .. }
            | CatalogError::PartitionKeyConflict { .. } => ErrorClass::Permanent,
        }
    }
}

/// A table definition and the version it was read at, for an update that
/// must not overwrite another writer's change (optimistic locking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedTable {
    pub table: TableDefinition,
    /// The backend's version id; `None` where the backend has none.
    pub version: Option<String>,
}

/// The most partitions one registration call may carry (Glue's `BatchCreatePartition` limit).
pub const PARTITIONS_PER_CALL: usize = 100;

/// A Glue-model catalog.
#[async_trait]
pub trait Catalog: Send + Sync + std::fmt::Debug {
    async fn get_table(&self, database: &str, table: &str) -> Result<Option<VersionedTable>, CatalogError>;

    /// Creates the table when `expected_version` is `None`, or replaces the
    /// definition read at `expected_version`. Either way, if another writer got
    /// there first the answer is [`CatalogError::Conflict`], and nothing changes.
    async fn put_table(&self, table: &TableDefinition, expected_version: Option<&str>) -> Result<(), CatalogError>;

    /// Registers partitions, at most [`PARTITIONS_PER_CALL`] per backend call;
    /// ones that exist already count as success. Returns how many were new.
    async fn add_partitions(&self, database: &str, table: &str, partitions: &[PartitionDefinition]) -> Result<usize, CatalogError>;

    async fn list_tables(&self, database: &str) -> Result<Vec<TableDefinition>, CatalogError>;

    async fn list_partitions(&self, database: &str, table: &str) -> Result<Vec<PartitionDefinition>, CatalogError>;
}

/// The Glue type for an Arrow type, as Athena reads it from Parquet.
pub fn glue_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string",
        DataType::Int64 => "bigint",
        DataType::Int32 => "int",
        DataType::Float64 => "double",
        DataType::Float32 => "float",
        DataType::Boolean => "boolean",
        DataType::Timestamp(_, _) => "timestamp",
        DataType::Date32 => "date",
        _ => "string",
    }
    .to_owned()
}

/// A column parameter marking a timestamp without a time zone (a
/// wall-clock time such as `local_time`): Glue's `timestamp` does not say.
pub const WALL_CLOCK_PARAMETER: &str = "inlet.wall_clock";

/// The Arrow type a catalog column reads back as.
pub fn column_arrow_type(column: &CatalogColumn) -> DataType {
    match arrow_type(&column.data_type) {
        DataType::Timestamp(unit, _) if column.parameters.contains_key(WALL_CLOCK_PARAMETER) => DataType::Timestamp(unit, None),
        other => other,
    }
}

/// The Arrow type a Glue type reads back as.
pub fn arrow_type(glue_type: &str) -> DataType {
    match glue_type {
        "bigint" => DataType::Int64,
        "int" => DataType::Int32,
        "double" => DataType::Float64,
        "float" => DataType::Float32,
        "boolean" => DataType::Boolean,
        "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        "date" => DataType::Date32,
        _ => DataType::Utf8,
    }
}

impl TableDefinition {
    /// The definition for data of `schema`: data columns with their Glue
    /// types, units and descriptions (from the fields' metadata), and STRING
    /// partition keys.
    pub fn from_schema(
        database: &str,
        table: &str,
        location: String,
        schema: &Schema,
        partition_keys: &[String],
        pipeline: Option<&str>,
    ) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                let units = field.metadata().get(UNITS_KEY);
                let description = field.metadata().get(DESCRIPTION_KEY);
                let mut parameters = BTreeMap::new();
                if let Some(units) = units {
                    parameters.insert("units".to_owned(), units.clone());
                }
                if matches!(field.data_type(), DataType::Timestamp(_, None)) {
                    parameters.insert(WALL_CLOCK_PARAMETER.to_owned(), "true".to_owned());
                }
                let comment = match (description, units) {
                    (Some(d), Some(u)) => Some(format!("{d} [{u}]")),
                    (Some(d), None) => Some(d.clone()),
                    (None, Some(u)) => Some(format!("[{u}]")),
                    (None, None) => None,
                };
                CatalogColumn { name: field.name().clone(), data_type: glue_type(field.data_type()), comment, parameters }
            })
            .collect();
        let partition_keys = partition_keys
            .iter()
            .map(|k| CatalogColumn { name: k.clone(), data_type: "string".into(), comment: None, parameters: BTreeMap::new() })
            .collect();
        let mut parameters =
            BTreeMap::from([("classification".to_owned(), "parquet".to_owned()), ("EXTERNAL".to_owned(), "TRUE".to_owned())]);
        if let Some(pipeline) = pipeline {
            parameters.insert("inlet.pipeline".to_owned(), pipeline.to_owned());
        }
        Self { database: database.into(), name: table.into(), columns, partition_keys, location, parameters }
    }

    /// This definition widened by `incoming`: new columns are appended, so
    /// older files read them as null; a changed type is a conflict.
    pub fn merged_with(&self, incoming: &TableDefinition) -> Result<TableDefinition, CatalogError> {
        let keys = |t: &TableDefinition| t.partition_keys.iter().map(|k| k.name.clone()).collect::<Vec<_>>();
        if keys(self) != keys(incoming) {
            return Err(CatalogError::PartitionKeyConflict { table: self.name.clone(), existing: keys(self), incoming: keys(incoming) });
        }
        let mut merged = self.clone();
        for column in &incoming.columns {
            match merged.columns.iter_mut().find(|c| c.name == column.name) {
                Some(existing) if existing.data_type != column.data_type => {
                    return Err(CatalogError::TypeConflict {
                        table: self.name.clone(),
                        column: column.name.clone(),
                        existing: existing.data_type.clone(),
                        incoming: column.data_type.clone(),
                    });
                }
                Some(existing) => {
                    // Units and descriptions follow the latest definition.
                    existing.comment = column.comment.clone();
                    existing.parameters = column.parameters.clone();
                }
                None => merged.columns.push(column.clone()),
            }
        }
        merged.parameters.extend(incoming.parameters.clone());
        Ok(merged)
    }
}

/// How often [`register`] reads and merges again after a conflict.
const TABLE_UPDATE_ATTEMPTS: u32 = 8;

/// Creates or widens a table, then registers its partitions.
///
/// Two writers may widen one table at once (the partitioner runs with
/// concurrency). Each update names the version it read, so the second one
/// conflicts, reads the first one's columns, merges and tries again: no column
/// is lost.
pub async fn register(
    catalog: &dyn Catalog,
    incoming: &TableDefinition,
    partitions: &[PartitionDefinition],
) -> Result<usize, CatalogError> {
    widen_table(catalog, incoming).await?;
    if partitions.is_empty() {
        return Ok(0);
    }
    catalog.add_partitions(&incoming.database, &incoming.name, partitions).await
}

async fn widen_table(catalog: &dyn Catalog, incoming: &TableDefinition) -> Result<(), CatalogError> {
    for attempt in 1..=TABLE_UPDATE_ATTEMPTS {
        let existing = catalog.get_table(&incoming.database, &incoming.name).await?;
        let definition = match &existing {
            Some(existing) => existing.table.merged_with(incoming)?,
            None => incoming.clone(),
        };
        if existing.as_ref().map(|e| &e.table) == Some(&definition) {
            return Ok(());
        }
        let version = existing.as_ref().and_then(|e| e.version.as_deref());
        match catalog.put_table(&definition, version).await {
            Err(CatalogError::Conflict { .. }) if attempt < TABLE_UPDATE_ATTEMPTS => {
                tracing::debug!(table = %incoming.name, attempt, "table changed meanwhile; merging again");
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
            other => return other,
        }
    }
    Err(CatalogError::Conflict { database: incoming.database.clone(), table: incoming.name.clone() })
}

/// A short, jittered pause, so writers that conflicted do not meet again.
fn conflict_backoff(attempt: u32) -> std::time::Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let ceiling_ms = 10u64 << attempt.min(6);
    std::time::Duration::from_millis(u64::from(nanos) % ceiling_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[(&str, &str)]) -> TableDefinition {
        TableDefinition {
            database: "inlet".into(),
            name: "t".into(),
            columns: columns
                .iter()
                .map(|(n, t)| CatalogColumn { name: (*n).into(), data_type: (*t).into(), comment: None, parameters: BTreeMap::new() })
                .collect(),
            partition_keys: vec![CatalogColumn {
                name: "year".into(),
                data_type: "string".into(),
                comment: None,
                parameters: BTreeMap::new(),
            }],
            location: "s3://output/t/".into(),
            parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn new_columns_are_appended_and_type_changes_refused() {
        let old = table(&[("time", "timestamp"), ("a", "double")]);
        let merged = old.merged_with(&table(&[("time", "timestamp"), ("b", "bigint")])).unwrap();
        let names: Vec<_> = merged.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["time", "a", "b"]);
        let err = old.merged_with(&table(&[("a", "string")])).unwrap_err();
        assert!(err.to_string().contains("\"a\" of t is double in the catalog but string"), "{err}");
    }

    #[test]
    fn glue_types_round_trip() {
        for t in ["string", "bigint", "int", "double", "boolean", "timestamp"] {
            assert_eq!(glue_type(&arrow_type(t)), t);
        }
    }
}
