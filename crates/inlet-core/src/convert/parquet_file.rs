//! One Parquet file whose columns are encoded in parallel.
//!
//! `ArrowWriter` encodes a batch's columns one after another on the calling
//! thread, and on `asx_eod` that thread did half of a conversion's work
//! (Snappy the largest part of it) while the other threads waited on it.
//! This writer does what `ArrowWriter` does, with its column encoders, so a
//! file's bytes are the same; but a batch large enough to pay for it has its
//! columns encoded on rayon's pool, one task a column, on every core.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::Result;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use super::disk::DiskFile;

/// Below this many rows a batch's columns are encoded one after another:
/// handing them to other threads would cost more than it saves.
const PARALLEL_ROWS: usize = 1024;

pub(super) struct ParquetFile {
    file: SerializedFileWriter<DiskFile>,
    columns: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    row_group: Option<RowGroup>,
    row_group_rows: usize,
}

/// The row group being encoded.
struct RowGroup {
    columns: Vec<ArrowColumnWriter>,
    rows: usize,
}

impl ParquetFile {
    pub(super) fn try_new(file: DiskFile, schema: SchemaRef, properties: WriterProperties) -> Result<Self> {
        let row_group_rows = properties.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        // `ArrowWriter` lays out the file's schema and metadata, the Arrow
        // schema among them, as readers expect; from there on this writer works.
        let (file, columns) = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties))?.into_serialized_writer()?;
        Ok(Self { file, columns, schema, row_group: None, row_group_rows })
    }

    /// Encodes `batch`, closing row groups as they reach their row count.
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let row_group = match &mut self.row_group {
                Some(row_group) => row_group,
                empty => {
                    let columns = self.columns.create_column_writers(self.file.flushed_row_groups().len())?;
                    empty.insert(RowGroup { columns, rows: 0 })
                }
            };
            let rows = rest.num_rows().min(self.row_group_rows - row_group.rows);
            row_group.write(&self.schema, &rest.slice(0, rows))?;
            let full = row_group.rows >= self.row_group_rows;
            rest = rest.slice(rows, rest.num_rows() - rows);
            if full {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// What the row group being encoded would take in the file.
    pub(super) fn in_progress_size(&self) -> usize {
        self.row_group.as_ref().map_or(0, |row_group| row_group.columns.iter().map(ArrowColumnWriter::get_estimated_total_bytes).sum())
    }

    pub(super) fn bytes_written(&self) -> usize {
        self.file.bytes_written()
    }

    /// Closes the row group being encoded, which writes it to the file.
    pub(super) fn flush(&mut self) -> Result<()> {
        let Some(row_group) = self.row_group.take() else { return Ok(()) };
        let chunks: Vec<ArrowColumnChunk> = row_group.columns.into_par_iter().map(ArrowColumnWriter::close).collect::<Result<_>>()?;
        let mut writer = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut writer)?;
        }
        writer.close()?;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the file.
    pub(super) fn into_inner(mut self) -> Result<DiskFile> {
        self.flush()?;
        self.file.into_inner()
    }
}

impl RowGroup {
    fn write(&mut self, schema: &SchemaRef, batch: &RecordBatch) -> Result<()> {
        let mut leaves = Vec::with_capacity(self.columns.len());
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, column)?);
        }
        self.rows += batch.num_rows();
        if batch.num_rows() < PARALLEL_ROWS {
            return self.columns.iter_mut().zip(&leaves).try_for_each(|(column, leaf)| column.write(leaf));
        }
        self.columns.par_iter_mut().zip(leaves.par_iter()).try_for_each(|(column, leaf)| column.write(leaf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::disk::Disk;
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::basic::Compression;

    fn batch(schema: &SchemaRef, start: i64, rows: usize) -> RecordBatch {
        let ids = Int64Array::from_iter_values(start..start + rows as i64);
        let names = StringArray::from_iter_values((0..rows).map(|i| format!("site-{}", i % 37)));
        let values = Float64Array::from_iter((0..rows).map(|i| (i % 11 != 0).then_some(i as f64 / 8.0)));
        RecordBatch::try_new(Arc::clone(schema), vec![Arc::new(ids), Arc::new(names), Arc::new(values)]).unwrap()
    }

    #[test]
    fn the_file_is_byte_for_byte_what_arrow_writer_writes() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("site", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
        ]));
        let properties =
            || WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(5000)).build();
        // Small batches go one column after another, large ones in parallel,
        // and row groups close in the middle of a batch.
        let batches: Vec<RecordBatch> = [10, 3000, 700, 4100, 1, 9000]
            .iter()
            .scan(0, |start, rows| {
                let b = batch(&schema, *start, *rows);
                *start += *rows as i64;
                Some(b)
            })
            .collect();

        let mut expected = ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(properties())).unwrap();
        batches.iter().for_each(|b| expected.write(b).unwrap());
        let expected = expected.into_inner().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let mut disk = Disk::start();
        let mut file = ParquetFile::try_new(disk.create(1, dir.path().join("a.parquet")), Arc::clone(&schema), properties()).unwrap();
        batches.iter().for_each(|b| file.write(b).unwrap());
        let bytes = file.into_inner().unwrap().close().unwrap();
        disk.finish().unwrap();
        let written = std::fs::read(dir.path().join("a.parquet")).unwrap();
        assert_eq!(bytes, written.len() as u64);
        assert!(written == expected, "the files differ: {} bytes against {}", written.len(), expected.len());
    }
}
