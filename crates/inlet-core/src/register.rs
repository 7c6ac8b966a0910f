//! Registering output files in the catalog: the partitioner's logic.
//!
//! Everything needed comes from the file itself: the table and partition from
//! its key (`<table>/<k>=<v>/…/part-….parquet`), the columns, Glue types and
//! units from its Parquet footer (the Arrow schema inlet writes there). So a
//! partitioner needs only read access to the output bucket, and [`Registrar::repair`]
//! can rebuild a catalog from the files alone; `MSCK REPAIR` is never needed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_schema::Schema;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};

use crate::catalog::{self, Catalog, CatalogError, PartitionDefinition, TableDefinition};
use crate::error::{Classify, ErrorClass};
use crate::layout;
use crate::metadata::CORRELATION_ID_METADATA;
use crate::partition::Partition;
use crate::storage::{ObjectLocation, ObjectStore, StoreError};

/// An output file, as its key describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutputObject {
    pub key: String,
    pub table: String,
    pub partition: Partition,
}

impl OutputObject {
    /// Parses `<table>/<k>=<v>/…/<file>.parquet`. Bookkeeping (`_inlet/…`),
    /// hidden files and non-Parquet keys are not outputs.
    pub fn parse(key: &str) -> Option<Self> {
        if key.starts_with(layout::BOOKKEEPING) || !key.ends_with(".parquet") {
            return None;
        }
        let (table, partition, file) = Partition::split_key(key)?;
        if file.starts_with('_') || file.starts_with('.') {
            return None;
        }
        Some(Self { key: key.to_owned(), table: table.to_owned(), partition })
    }

    /// The source id in the file's name (`part-<source id>-…`): which input
    /// wrote it. Files of other writers give their whole name.
    fn writer(&self) -> &str {
        let name = self.key.rsplit('/').next().unwrap_or(&self.key);
        name.strip_prefix("part-").and_then(|rest| rest.split('-').next()).unwrap_or(name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("{location} is not a readable Parquet file: {message}")]
    Footer { location: ObjectLocation, message: String },

    #[error("{key} and other files of table {table} disagree on partition keys ({first:?} vs {second:?}); one table has one layout")]
    MixedLayout { table: String, key: String, first: Vec<String>, second: Vec<String> },

    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl Classify for RegisterError {
    fn class(&self) -> ErrorClass {
        match self {
            RegisterError::Store(e) => e.class(),
            RegisterError::Catalog(e) => e.class(),
            RegisterError::Footer { .. } | RegisterError::MixedLayout { .. } => ErrorClass::Permanent,
        }
    }
}

/// What a registration did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegisterReport {
    pub tables: Vec<String>,
    pub files: usize,
    pub partitions_added: usize,
    /// Keys that are not output files (bookkeeping, other formats).
    pub ignored: Vec<String>,
    /// The correlation ids of the inputs that wrote the files, from their
    /// metadata, so the registration's log line joins theirs.
    pub correlation_ids: BTreeSet<String>,
}

/// Registers output files' tables and partitions.
#[derive(Debug, Clone)]
pub struct Registrar {
    store: Arc<dyn ObjectStore>,
    catalog: Arc<dyn Catalog>,
    output_bucket: String,
    database: String,
}

/// Parquet footers are rarely bigger than this; one range read usually gets it all.
const FOOTER_GUESS: u64 = 64 * 1024;

impl Registrar {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        catalog: Arc<dyn Catalog>,
        output_bucket: impl Into<String>,
        database: impl Into<String>,
    ) -> Self {
        Self { store, catalog, output_bucket: output_bucket.into(), database: database.into() }
    }

    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    /// Registers the tables and partitions of these output keys. Idempotent:
    /// registering a file twice changes nothing.
    pub async fn register(&self, keys: &[String]) -> Result<RegisterReport, RegisterError> {
        let mut report = RegisterReport::default();
        let mut by_table: BTreeMap<String, Vec<OutputObject>> = BTreeMap::new();
        for key in keys {
            match OutputObject::parse(key) {
                Some(object) => by_table.entry(object.table.clone()).or_default().push(object),
                None => report.ignored.push(key.clone()),
            }
        }
        for (table, objects) in by_table {
            // Files written by one version of a pipeline share a schema; reading
            // the first file of each source in each partition covers schema
            // drift cheaply, and finds each writer's correlation id.
            let mut seen = BTreeSet::new();
            let mut definition: Option<TableDefinition> = None;
            for object in &objects {
                if !seen.insert((object.partition.clone(), object.writer())) && definition.is_some() {
                    continue;
                }
                let (incoming, correlation_id) = self.definition_of(object).await?;
                report.correlation_ids.extend(correlation_id);
                definition = Some(match definition {
                    None => incoming,
                    Some(current) => current.merged_with(&incoming)?,
                });
            }
            let definition = definition.expect("a table with objects has a definition");
            let mut partitions: Vec<PartitionDefinition> = objects
                .iter()
                .filter(|o| !o.partition.is_empty())
                .map(|o| PartitionDefinition {
                    values: o.partition.values(),
                    location: format!("s3://{}/{}", self.output_bucket, o.partition.prefix_in(&table)),
                })
                .collect();
            partitions.sort();
            partitions.dedup();
            report.partitions_added += catalog::register(self.catalog.as_ref(), &definition, &partitions).await?;
            report.files += objects.len();
            report.tables.push(table);
        }
        Ok(report)
    }

    /// Finds every output file in the bucket and registers whatever the
    /// catalog is missing.
    pub async fn repair(&self) -> Result<RegisterReport, RegisterError> {
        let keys: Vec<String> = self.store.list(&self.output_bucket, "").await?.into_iter().map(|m| m.location.key).collect();
        let mut report = self.register(&keys).await?;
        report.ignored.clear();
        Ok(report)
    }

    /// The table definition one output file implies.
    /// The table definition one output file implies, and the correlation id
    /// of the input that wrote it.
    async fn definition_of(&self, object: &OutputObject) -> Result<(TableDefinition, Option<String>), RegisterError> {
        let location = ObjectLocation::new(&self.output_bucket, &object.key);
        let footer = self.read_footer(&location).await?;
        let table_location = format!("s3://{}/{}/", self.output_bucket, object.table);
        let definition = TableDefinition::from_schema(
            &self.database,
            &object.table,
            table_location,
            &footer.schema,
            &object.partition.keys(),
            footer.value("inlet.pipeline").as_deref(),
        );
        Ok((definition, footer.value(CORRELATION_ID_METADATA)))
    }

    /// The Arrow schema and key-value metadata, from the footer alone.
    async fn read_footer(&self, location: &ObjectLocation) -> Result<Footer, RegisterError> {
        let footer_error = |message: String| RegisterError::Footer { location: location.clone(), message };
        let size = self.store.head(location).await?.size;
        if size < 12 {
            return Err(footer_error(format!("{size} bytes is too short")));
        }
        let mut start = size.saturating_sub(FOOTER_GUESS);
        let mut tail = self.store.get_range(location, start..size).await?;
        let last8: [u8; 8] = tail[tail.len() - 8..].try_into().expect("eight bytes");
        let footer = FooterTail::try_new(&last8).map_err(|e| footer_error(e.to_string()))?;
        let needed = footer.metadata_length() as u64 + 8;
        if needed > size {
            return Err(footer_error("the footer is longer than the file".into()));
        }
        if needed > tail.len() as u64 {
            start = size - needed;
            tail = self.store.get_range(location, start..size).await?;
        }
        let metadata_bytes = &tail[tail.len() - needed as usize..tail.len() - 8];
        let metadata = ParquetMetaDataReader::decode_metadata(metadata_bytes).map_err(|e| footer_error(e.to_string()))?;
        let key_values = metadata.file_metadata().key_value_metadata();
        let schema =
            parquet_to_arrow_schema(metadata.file_metadata().schema_descr(), key_values).map_err(|e| footer_error(e.to_string()))?;
        let key_values =
            key_values.map(|kv| kv.iter().filter_map(|k| Some((k.key.clone(), k.value.clone()?))).collect()).unwrap_or_default();
        Ok(Footer { schema, key_values })
    }
}

/// What registration reads from an output file's footer.
struct Footer {
    schema: Schema,
    key_values: BTreeMap<String, String>,
}

impl Footer {
    fn value(&self, key: &str) -> Option<String> {
        self.key_values.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keys_parse_into_table_and_partition() {
        let o = OutputObject::parse("t/location=humboldt/year=2020/part-a-b-0000.snappy.parquet").unwrap();
        assert_eq!(o.table, "t");
        assert_eq!(o.partition.path(), "location=humboldt/year=2020");
        assert!(OutputObject::parse("t_rejects/part-a.parquet").unwrap().partition.is_empty());
        for not_output in [
            "_inlet/manifests/x.json",
            "t/year=2020/_SUCCESS",
            "t/year=2020/.part.parquet",
            "t/notes.txt",
            "t/nokey/x.parquet",
            "x.parquet",
        ] {
            assert!(OutputObject::parse(not_output).is_none(), "{not_output}");
        }
    }
}
