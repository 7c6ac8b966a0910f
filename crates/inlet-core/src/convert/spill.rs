//! Rows set aside by partition bucket, for inputs whose partitions come in no
//! useful order.
//!
//! Written straight to Parquet, such an input keeps closing one partition's
//! file to open another's, and leaves a swarm of small files: a year of daily
//! partitions in random order made hundreds of thousands. So once a partition
//! that had to give up its file comes back, the writer sends every later row
//! here instead, into one of [`BUCKETS`] LZ4-compressed Arrow IPC streams in
//! the work directory, chosen by partition id. At the end the buckets are
//! read back one at a time. A bucket holds a small share of the partitions,
//! whose files can all be open at once, so each partition gets one more file
//! rather than many, and memory stays what the open files need.
//!
//! The disk this takes is about the compressed size of the rows set aside.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_ipc::CompressionType;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;

use super::sink::{SinkError, group_rows};

/// How many streams rows are spread over. Bucket files are read back one at
/// a time, so a bucket's partitions should fit the open-file cap: 128
/// buckets keep 4,096 partitions to one file each at the default budget.
pub(super) const BUCKETS: usize = 128;

/// Rows a bucket gathers before they are compressed and written, so that
/// each IPC message is big enough for its framing not to matter.
const BUCKET_FLUSH_BYTES: usize = 64 << 10;

/// Rows read back at once: about what one shipment to the encoder holds.
const READ_BACK_ROWS: usize = 8192;

/// The partition id column added to spilled rows.
const PARTITION_ID_COLUMN: &str = "__inlet_partition_id";

pub(super) struct Spill {
    data_schema: SchemaRef,
    spill_schema: SchemaRef,
    buckets: Vec<Bucket>,
}

struct Bucket {
    path: PathBuf,
    writer: Option<StreamWriter<BufWriter<File>>>,
    pending: Vec<RecordBatch>,
    pending_bytes: usize,
}

/// A finished bucket: its stream's path.
pub(super) struct SpilledBucket {
    path: PathBuf,
    data_schema: SchemaRef,
}

impl Spill {
    pub fn new(data_schema: &SchemaRef, workdir: &Path, file_prefix: &str) -> Self {
        let mut fields: Vec<Arc<Field>> = data_schema.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(PARTITION_ID_COLUMN, DataType::UInt32, false)));
        let buckets = (0..BUCKETS)
            .map(|bucket| Bucket {
                path: workdir.join(format!("{file_prefix}-spill-{bucket}.arrows")),
                writer: None,
                pending: Vec::new(),
                pending_bytes: 0,
            })
            .collect();
        Self { data_schema: Arc::clone(data_schema), spill_schema: Arc::new(Schema::new(fields)), buckets }
    }

    /// Sets aside `batch`, whose row `i` belongs to partition `ids[i]`.
    pub fn write(&mut self, batch: &RecordBatch, ids: &[usize]) -> Result<(), SinkError> {
        let with_ids = self.with_partition_ids(batch, ids).map_err(|e| self.error(0, e))?;
        let buckets: Vec<usize> = ids.iter().map(|id| id % BUCKETS).collect();
        for (bucket, rows) in group_rows(&buckets) {
            let slice = take_record_batch(&with_ids, &UInt32Array::from(rows)).map_err(|e| self.error(bucket, e))?;
            self.buckets[bucket].pending_bytes += slice.get_array_memory_size();
            self.buckets[bucket].pending.push(slice);
            if self.buckets[bucket].pending_bytes >= BUCKET_FLUSH_BYTES {
                self.flush(bucket).map_err(|e| self.error(bucket, e))?;
            }
        }
        Ok(())
    }

    /// Writes out what every bucket still holds; returns the buckets that
    /// received rows, in bucket order.
    pub fn finish(mut self) -> Result<Vec<SpilledBucket>, SinkError> {
        let mut finished = Vec::new();
        for bucket in 0..BUCKETS {
            self.flush(bucket).map_err(|e| self.error(bucket, e))?;
            if let Some(mut writer) = self.buckets[bucket].writer.take() {
                writer.finish().map_err(|e| self.error(bucket, e))?;
                let path = self.buckets[bucket].path.clone();
                finished.push(SpilledBucket { path, data_schema: Arc::clone(&self.data_schema) });
            }
        }
        Ok(finished)
    }

    fn with_partition_ids(&self, batch: &RecordBatch, ids: &[usize]) -> Result<RecordBatch, ArrowError> {
        let ids: UInt32Array = ids.iter().map(|id| *id as u32).collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.push(Arc::new(ids));
        RecordBatch::try_new(Arc::clone(&self.spill_schema), columns)
    }

    fn flush(&mut self, bucket: usize) -> Result<(), ArrowError> {
        let state = &mut self.buckets[bucket];
        if state.pending.is_empty() {
            return Ok(());
        }
        let batch = concat_batches(&self.spill_schema, &state.pending)?;
        state.pending.clear();
        state.pending_bytes = 0;
        if state.writer.is_none() {
            let options = IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))?;
            let file = BufWriter::new(File::create(&state.path)?);
            state.writer = Some(StreamWriter::try_new_with_options(file, &self.spill_schema, options)?);
        }
        state.writer.as_mut().expect("created above").write(&batch)
    }

    fn error(&self, bucket: usize, source: ArrowError) -> SinkError {
        SinkError::Spill { path: self.buckets[bucket].path.clone(), source }
    }
}

impl SpilledBucket {
    /// The bucket's rows in the order they were set aside, in batches of
    /// about [`READ_BACK_ROWS`], each with the partition id of every row.
    /// The stream's file is removed once it has been read to the end.
    pub fn read_back(self) -> Result<impl Iterator<Item = Result<(RecordBatch, Vec<usize>), SinkError>>, SinkError> {
        let error = |path: &Path| {
            let path = path.to_owned();
            move |source| SinkError::Spill { path: path.clone(), source }
        };
        let file = File::open(&self.path).map_err(|e| error(&self.path)(e.into()))?;
        let mut stream = StreamReader::try_new(BufReader::new(file), None).map_err(error(&self.path))?;
        let mut finished = false;
        Ok(std::iter::from_fn(move || {
            if finished {
                return None;
            }
            let mut gathered = Vec::new();
            let mut rows = 0;
            while rows < READ_BACK_ROWS {
                match stream.next() {
                    Some(Ok(batch)) => {
                        rows += batch.num_rows();
                        gathered.push(batch);
                    }
                    Some(Err(e)) => return Some(Err(error(&self.path)(e))),
                    None => {
                        finished = true;
                        let _ = std::fs::remove_file(&self.path);
                        break;
                    }
                }
            }
            (rows > 0).then(|| self.split_partition_ids(&stream.schema(), &gathered).map_err(error(&self.path)))
        }))
    }

    fn split_partition_ids(&self, spill_schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(RecordBatch, Vec<usize>), ArrowError> {
        let batch = concat_batches(spill_schema, batches)?;
        let id_column = batch.num_columns() - 1;
        let ids = batch
            .column(id_column)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| ArrowError::SchemaError(format!("{PARTITION_ID_COLUMN} is not a UInt32 column")))?;
        let ids = ids.values().iter().map(|id| *id as usize).collect();
        let data = RecordBatch::try_new(Arc::clone(&self.data_schema), batch.columns()[..id_column].to_vec())?;
        Ok((data, ids))
    }
}
