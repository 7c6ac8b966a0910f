//! The Parquet side of a conversion: rows in, one or more files per Hive
//! partition out, with memory bounded whatever the input's size.
//!
//! Rows are appended to per-partition Arrow builders, turned into record
//! batches of a few thousand rows, and handed to an `ArrowWriter` writing a
//! temporary file. A file is closed and a new chunk begun once it reaches the
//! target size, so files are sized by bytes, not by a row count. When the
//! writers' buffered row groups pass the memory budget, the largest is flushed.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::partition::Partition;
use crate::pipeline::Compression;

/// A finished temporary Parquet file.
#[derive(Debug)]
pub struct WrittenFile {
    pub partition: Partition,
    pub chunk: u32,
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

/// One cell on its way into a builder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Float(f64),
    Int(i64),
    Bool(bool),
    Str(&'a str),
    /// UTC milliseconds.
    Timestamp(i64),
    Qc(i32),
}

enum ColumnBuilder {
    Float(Float64Builder),
    Int(Int64Builder),
    Int32(Int32Builder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    Timestamp(TimestampMillisecondBuilder),
}

impl ColumnBuilder {
    fn for_type(data_type: &DataType, capacity: usize) -> Self {
        match data_type {
            DataType::Float64 => Self::Float(Float64Builder::with_capacity(capacity)),
            DataType::Int64 => Self::Int(Int64Builder::with_capacity(capacity)),
            DataType::Int32 => Self::Int32(Int32Builder::with_capacity(capacity)),
            DataType::Boolean => Self::Bool(BooleanBuilder::with_capacity(capacity)),
            DataType::Timestamp(_, tz) => {
                Self::Timestamp(TimestampMillisecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()))
            }
            _ => Self::Str(StringBuilder::with_capacity(capacity, capacity * 8)),
        }
    }

    fn append(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (Self::Float(b), Cell::Float(v)) => b.append_value(v),
            (Self::Float(b), Cell::Int(v)) => b.append_value(v as f64),
            (Self::Int(b), Cell::Int(v)) => b.append_value(v),
            (Self::Int32(b), Cell::Qc(v)) => b.append_value(v),
            (Self::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Self::Str(b), Cell::Str(v)) => b.append_value(v),
            (Self::Timestamp(b), Cell::Timestamp(v)) => b.append_value(v),
            (Self::Float(b), _) => b.append_null(),
            (Self::Int(b), _) => b.append_null(),
            (Self::Int32(b), _) => b.append_null(),
            (Self::Bool(b), _) => b.append_null(),
            (Self::Str(b), _) => b.append_null(),
            (Self::Timestamp(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Float(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Str(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

/// Builds record batches of one schema, row by row.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

impl BatchBuilder {
    pub fn new(schema: SchemaRef, capacity: usize) -> Self {
        let columns = schema.fields().iter().map(|f| ColumnBuilder::for_type(f.data_type(), capacity)).collect();
        Self { schema, columns, rows: 0 }
    }

    /// Appends one row; `cells` follows the schema's column order.
    pub fn append_row<'a>(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) {
        for (builder, cell) in self.columns.iter_mut().zip(cells) {
            builder.append(cell);
        }
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(&mut self) -> RecordBatch {
        let arrays = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), arrays).expect("builders follow the schema")
    }
}

/// Settings shared by every file of a conversion.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub compression: Compression,
    pub target_file_bytes: u64,
    pub row_group_rows: usize,
    /// Bytes that buffered row groups may hold across all partitions.
    pub memory_budget_bytes: usize,
    /// Key-value metadata written into every file's footer.
    pub metadata: Vec<(String, String)>,
}

struct OpenFile {
    writer: ArrowWriter<File>,
    path: PathBuf,
    rows: u64,
}

struct PartitionState {
    builder: BatchBuilder,
    file: Option<OpenFile>,
    next_chunk: u32,
}

/// Writes rows into per-partition temporary Parquet files.
pub struct PartitionedWriter {
    schema: SchemaRef,
    partition_keys: Vec<String>,
    options: SinkOptions,
    properties: WriterProperties,
    workdir: PathBuf,
    file_prefix: String,
    batch_rows: usize,
    partitions: HashMap<Vec<String>, PartitionState>,
    written: Vec<WrittenFile>,
    files_opened: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("writing Parquet for partition {partition}: {source}")]
pub struct SinkError {
    pub partition: String,
    #[source]
    pub source: parquet::errors::ParquetError,
}

impl PartitionedWriter {
    pub fn new(schema: SchemaRef, partition_keys: Vec<String>, options: SinkOptions, workdir: &Path, file_prefix: &str) -> Self {
        let compression = match options.compression {
            Compression::Snappy => ParquetCompression::SNAPPY,
            Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::default()),
        };
        let metadata = options.metadata.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_key_value_metadata(Some(metadata))
            .set_created_by(format!("inlet {}", env!("CARGO_PKG_VERSION")))
            .build();
        // Aim for roughly 1 MiB of cells per batch, so a wide table does not
        // buffer thousands of rows per partition.
        let width = schema.fields().len().max(1);
        let batch_rows = (1 << 20) / (8 * width);
        Self {
            batch_rows: batch_rows.clamp(256, 8192),
            schema,
            partition_keys,
            options,
            properties,
            workdir: workdir.to_owned(),
            file_prefix: file_prefix.to_owned(),
            partitions: HashMap::new(),
            written: Vec::new(),
            files_opened: 0,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends one row to the partition `values` (one per partition key).
    pub fn append<'a>(&mut self, values: &[String], cells: impl IntoIterator<Item = Cell<'a>>) -> Result<(), SinkError> {
        let state = match self.partitions.get_mut(values) {
            Some(state) => state,
            None => {
                let builder = BatchBuilder::new(Arc::clone(&self.schema), self.batch_rows);
                self.partitions.entry(values.to_vec()).or_insert(PartitionState { builder, file: None, next_chunk: 0 })
            }
        };
        state.builder.append_row(cells);
        if state.builder.len() >= self.batch_rows {
            self.flush_builder(values)?;
            self.enforce_memory_budget()?;
        }
        Ok(())
    }

    fn describe(&self, values: &[String]) -> String {
        Partition::from_keys_and_values(&self.partition_keys, values).to_string()
    }

    fn flush_builder(&mut self, values: &[String]) -> Result<(), SinkError> {
        let partition = self.describe(values);
        let err = |source| SinkError { partition: partition.clone(), source };
        let state = self.partitions.get_mut(values).expect("partition exists");
        if state.builder.is_empty() {
            return Ok(());
        }
        let batch = state.builder.finish();
        if state.file.is_none() {
            self.files_opened += 1;
            let path = self.workdir.join(format!("{}-{}.parquet", self.file_prefix, self.files_opened));
            let file = File::create(&path).map_err(|e| err(e.into()))?;
            let writer = ArrowWriter::try_new(file, Arc::clone(&self.schema), Some(self.properties.clone())).map_err(err)?;
            state.file = Some(OpenFile { writer, path, rows: 0 });
        }
        let open = state.file.as_mut().expect("opened above");
        open.writer.write(&batch).map_err(err)?;
        open.rows += batch.num_rows() as u64;
        let size = open.writer.bytes_written() as u64 + open.writer.in_progress_size() as u64;
        if size >= self.options.target_file_bytes {
            self.close_file(values)?;
        }
        Ok(())
    }

    fn close_file(&mut self, values: &[String]) -> Result<(), SinkError> {
        let partition = self.describe(values);
        let state = self.partitions.get_mut(values).expect("partition exists");
        let Some(open) = state.file.take() else { return Ok(()) };
        let chunk = state.next_chunk;
        state.next_chunk += 1;
        open.writer.close().map_err(|source| SinkError { partition: partition.clone(), source })?;
        let bytes = std::fs::metadata(&open.path).map(|m| m.len()).unwrap_or(0);
        self.written.push(WrittenFile {
            partition: Partition::from_keys_and_values(&self.partition_keys, values),
            chunk,
            path: open.path,
            rows: open.rows,
            bytes,
        });
        Ok(())
    }

    /// Flushes the biggest buffered row groups until the total fits the budget.
    fn enforce_memory_budget(&mut self) -> Result<(), SinkError> {
        loop {
            let mut total = 0usize;
            let mut largest: Option<(usize, Vec<String>)> = None;
            for (values, state) in &self.partitions {
                if let Some(open) = &state.file {
                    let size = open.writer.in_progress_size();
                    total += size;
                    if largest.as_ref().is_none_or(|(s, _)| size > *s) {
                        largest = Some((size, values.clone()));
                    }
                }
            }
            match largest {
                Some((size, values)) if total > self.options.memory_budget_bytes && size > 0 => {
                    let partition = self.describe(&values);
                    let open = self.partitions.get_mut(&values).and_then(|s| s.file.as_mut()).expect("found above");
                    open.writer.flush().map_err(|source| SinkError { partition, source })?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Flushes everything and returns the finished files, ordered by partition and chunk.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        let mut keys: Vec<Vec<String>> = self.partitions.keys().cloned().collect();
        keys.sort();
        for values in keys {
            self.flush_builder(&values)?;
            self.close_file(&values)?;
        }
        self.written.sort_by(|a, b| (&a.partition, a.chunk).cmp(&(&b.partition, b.chunk)));
        Ok(self.written)
    }
}
