//! # inlet-query
//!
//! SQL over the tables in inlet's local catalog, with DataFusion.
//!
//! Each catalog table becomes a listing table over its folder in the local
//! output bucket, with the table's Hive partition keys as STRING partition
//! columns. A `WHERE year = '2020'` therefore prunes whole folders before any
//! file is opened, as Athena does with partition projection.

use std::sync::Arc;

pub use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::array::{AsArray, RecordBatchOptions};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::{SessionConfig, SessionContext};
use inlet_core::catalog::{self, Catalog, TableDefinition};
use inlet_core::storage::LocalObjectStore;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(
        "table {table}'s location {location:?} is not in this machine's buckets; local queries read s3://<bucket>/<prefix> from the state directory"
    )]
    Location { table: String, location: String },

    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),

    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error("formatting the result failed: {0}")]
    Format(#[from] datafusion::arrow::error::ArrowError),
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

/// A SQL session over every table of one catalog database.
pub struct LocalQueryEngine {
    context: SessionContext,
    tables: Vec<String>,
}

impl LocalQueryEngine {
    /// Registers every table of `database` whose files live in `store`'s buckets.
    pub async fn open(catalog: &dyn Catalog, database: &str, store: &LocalObjectStore) -> Result<Self, QueryError> {
        // A backfill's partition holds its files in a run folder below the
        // partition's (`k=v/run-…/part-….parquet`), which a listing that
        // ignores subfolders would miss.
        let mut config = SessionConfig::new().with_information_schema(true);
        config.options_mut().execution.listing_table_ignore_subdirectory = false;
        let context = SessionContext::new_with_config(config);
        let mut tables = Vec::new();
        for table in catalog.list_tables(database).await? {
            let provider = listing_table(&table, store)?;
            context.register_table(table.name.as_str(), Arc::new(provider))?;
            tables.push(table.name);
        }
        Ok(Self { context, tables })
    }

    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        let frame = self.context.sql(sql).await?;
        Ok(frame.collect().await?)
    }

    /// The physical plan, to see which partitions a query would read.
    /// The rows of `table`, from the Parquet footers where DataFusion can.
    pub async fn count_rows(&self, table: &str) -> Result<u64, QueryError> {
        let batches = self.sql(&format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""))).await?;
        let mut rows = 0;
        for batch in &batches {
            let counts = batch
                .column(0)
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| ArrowError::CastError(format!("count(*) of {table} gave {} values", batch.column(0).data_type())))?;
            rows += counts.values().iter().map(|n| u64::try_from(*n).unwrap_or(0)).sum::<u64>();
        }
        Ok(rows)
    }

    pub async fn explain(&self, sql: &str) -> Result<String, QueryError> {
        let batches = self.sql(&format!("EXPLAIN {sql}")).await?;
        Ok(datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string())
    }
}

fn listing_table(table: &TableDefinition, store: &LocalObjectStore) -> Result<ListingTable, QueryError> {
    let location_error = || QueryError::Location { table: table.name.clone(), location: table.location.clone() };
    let path = table.location.strip_prefix("s3://").ok_or_else(location_error)?;
    let (bucket, prefix) = path.split_once('/').ok_or_else(location_error)?;
    let folder = store.bucket_path(bucket).join(prefix);
    // The folder may not exist yet for a table with no rows; an empty listing is fine.
    std::fs::create_dir_all(&folder).map_err(|_| location_error())?;
    let folder = folder.canonicalize().map_err(|_| location_error())?;
    let url = ListingTableUrl::parse(format!("{}/", folder.display()))?;

    let partition_columns = table.partition_keys.iter().map(|k| (k.name.clone(), DataType::Utf8)).collect();
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_columns);
    let fields: Vec<Field> = table.columns.iter().map(|c| Field::new(&c.name, catalog::column_arrow_type(c), true)).collect();
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(Arc::new(Schema::new(fields)));
    Ok(ListingTable::try_new(config)?)
}

/// A result set of text, such as Athena returns, as one batch of nullable
/// string columns, so it prints exactly as a local result does.
pub fn text_batch(columns: &[String], rows: &[Vec<Option<String>>]) -> Result<RecordBatch, QueryError> {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    let fields: Vec<Field> = columns.iter().map(|name| Field::new(name, DataType::Utf8, true)).collect();
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| Arc::new(rows.iter().map(|row| row.get(i).cloned().flatten()).collect::<StringArray>()) as ArrayRef)
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)?)
}

/// Renders batches as a text table, CSV with a header, or JSON lines.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String, QueryError> {
    use datafusion::arrow;
    Ok(match format {
        OutputFormat::Table => arrow::util::pretty::pretty_format_batches(batches)?.to_string(),
        OutputFormat::Csv => {
            let mut buffer = Vec::new();
            {
                let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut buffer);
                for batch in batches {
                    writer.write(batch)?;
                }
            }
            String::from_utf8_lossy(&buffer).into_owned()
        }
        OutputFormat::Json => {
            let mut buffer = Vec::new();
            {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut buffer);
                for batch in batches {
                    writer.write(batch)?;
                }
                writer.finish()?;
            }
            String::from_utf8_lossy(&buffer).into_owned()
        }
    })
}
