//! The Parquet side of a conversion: rows in, one or more files per Hive
//! partition out, with memory bounded whatever the input's size and however
//! many partitions it touches.
//!
//! Batches come with the partition of each row, and are split by partition:
//! into slices where each partition's rows lie together, or else with
//! arrow's `take` kernel. Each part goes to its partition's `ArrowWriter`.
//! So buffered rows cost the same for one partition or a thousand. Memory
//! is one budget:
//!
//! - a file is closed, and a new chunk begun, once it reaches the target size,
//!   so files are sized by bytes, not by a row count;
//! - when the writers' buffered row groups pass the budget, the largest one
//!   is flushed to its file;
//! - at most [`max_open_files`] files are open at once: a partition that needs
//!   one beyond that closes the least recently written, which later continues
//!   in a new chunk;
//! - once a partition that gave up its file that way comes back, the input's
//!   partitions come in no useful order, and the rest of its rows are set
//!   aside by partition bucket and written a bucket at a time at the end
//!   (see [`super::spill`]), so each partition gets a few files, not a swarm.
//!
//! Every decision follows the input's order and the settings alone, never
//! timing or free memory, so a re-run writes the same files under the same names.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, SchemaRef};
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::disk::{Disk, DiskError, DiskFile};
use super::spill::{Spill, SpilledBucket};
use crate::partition::Partition;
use crate::pipeline::{Compression, names};

/// A finished temporary Parquet file.
#[derive(Debug)]
pub struct WrittenFile {
    pub partition: Partition,
    pub chunk: u32,
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
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
    writer: ArrowWriter<DiskFile>,
    path: PathBuf,
    rows: u64,
}

/// One partition's files.
struct PartitionState {
    partition: Partition,
    file: Option<OpenFile>,
    next_chunk: u32,
    /// When a slice was last written to its open file, in slices: for closing
    /// the least recently written file first.
    last_written: u64,
    /// Its file was closed to make room for another partition's.
    evicted: bool,
}

/// Open files beyond the first few cost memory even when flushed (encoder
/// state, write buffers); this many bytes of budget buy one more open file.
const BUDGET_PER_OPEN_FILE: usize = 1 << 20;

/// A column chunk's dictionary grows to this size before the column falls
/// back to plain encoding. Codes, names and times stay far below it, while a
/// column of mostly distinct values (volumes, counts) stops interning early:
/// at parquet's default of 1 MiB, interning such a column in full was a fifth
/// of the encoding thread's time in profiles.
const DICTIONARY_BYTES: usize = 128 << 10;

/// Batches on their way to the encoding thread; each is about 1 MiB.
const BATCHES_IN_FLIGHT: usize = 2;

/// Whether a column's values repeat enough for a dictionary to be worth
/// interning every value, which the encoding thread pays for per row.
///
/// - Measured floats seldom repeat: interning them was a third of the
///   encoding thread's time in profiles, for little saved.
/// - Quality bits are nearly all zero. Interning five such columns was 13 %
///   of the encoding thread's time on the end-of-day benchmark. Written
///   plain, Snappy takes a page of zeros to a twentieth of its 4 bytes a
///   row: 0.2 bytes a row more than a dictionary, in the one encoding every
///   Parquet reader reads (Athena, Spark, Hive).
///
/// Text, whole numbers and times keep their dictionaries.
fn pays_for_a_dictionary(field: &Field) -> bool {
    *field.data_type() != DataType::Float64 && !names::is_quality_column(field.name())
}

/// How many files may be open at once under `memory_budget_bytes`.
pub fn max_open_files(memory_budget_bytes: usize) -> usize {
    (memory_budget_bytes / BUDGET_PER_OPEN_FILE).clamp(4, 256)
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("writing Parquet for partition {partition}: {source}")]
    Parquet {
        partition: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("setting rows aside in {} (is the work directory's disk full?): {source}", path.display())]
    Spill {
        path: PathBuf,
        #[source]
        source: arrow_schema::ArrowError,
    },
}

/// Rows on their way to the encoding thread: a batch, the partition of each
/// row, and the partitions first seen in it.
struct Shipment {
    batch: RecordBatch,
    ids: Vec<usize>,
    new_partitions: Vec<Partition>,
}

/// Writes batches into per-partition temporary Parquet files.
///
/// This side numbers partitions and gathers small batches; a thread of its
/// own encodes them into Parquet, so checking the next rows overlaps with
/// encoding the last ones.
pub struct PartitionedWriter {
    schema: SchemaRef,
    partition_keys: Vec<String>,
    /// Batches not yet shipped, with the partition of each row.
    pending: Vec<RecordBatch>,
    pending_ids: Vec<usize>,
    /// Rows worth shipping at once: about 1 MiB of cells.
    ship_rows: usize,
    ids: HashMap<Vec<String>, usize>,
    new_partitions: Vec<Partition>,
    shipments: Option<std::sync::mpsc::SyncSender<Shipment>>,
    encoder: Option<std::thread::JoinHandle<Result<Vec<WrittenFile>, SinkError>>>,
}

impl PartitionedWriter {
    pub fn new(schema: SchemaRef, partition_keys: Vec<String>, options: SinkOptions, workdir: &Path, file_prefix: &str) -> Self {
        let width = schema.fields().len().max(1);
        let ship_rows = ((1 << 20) / (8 * width)).clamp(256, 8192);
        let files = Files::new(Arc::clone(&schema), options, workdir, file_prefix);
        let (shipments, received) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let encoder =
            std::thread::Builder::new().name("inlet-parquet".into()).spawn(move || files.run(received)).expect("a thread can be started");
        Self {
            schema,
            partition_keys,
            pending: Vec::new(),
            pending_ids: Vec::new(),
            ship_rows,
            ids: HashMap::new(),
            new_partitions: Vec::new(),
            shipments: Some(shipments),
            encoder: Some(encoder),
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The id of the partition `values` (one per partition key), numbered
    /// in the order partitions are first seen.
    pub fn partition_id(&mut self, values: &[String]) -> usize {
        if let Some(id) = self.ids.get(values) {
            return *id;
        }
        let id = self.ids.len();
        self.ids.insert(values.to_vec(), id);
        self.new_partitions.push(Partition::from_keys_and_values(&self.partition_keys, values));
        id
    }

    /// Writes `batch`, whose row `i` belongs to partition `ids[i]`.
    pub fn write(&mut self, batch: RecordBatch, ids: Vec<usize>) -> Result<(), SinkError> {
        debug_assert_eq!(batch.num_rows(), ids.len());
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.pending_ids.extend(ids);
        self.pending.push(batch);
        if self.pending_ids.len() >= self.ship_rows {
            self.ship()?;
        }
        Ok(())
    }

    /// Writes `batch` to the one partition of a table without partition keys.
    pub fn write_unpartitioned(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        let id = self.partition_id(&[]);
        let rows = batch.num_rows();
        self.write(batch, vec![id; rows])
    }

    /// Hands the pending rows to the encoding thread, as one batch.
    fn ship(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.pending);
        let batch = match batches.len() {
            1 => batches.into_iter().next().expect("one batch"),
            _ => concat_batches(&self.schema, &batches).map_err(|e| SinkError::Parquet { partition: "(any)".into(), source: e.into() })?,
        };
        let shipment =
            Shipment { batch, ids: std::mem::take(&mut self.pending_ids), new_partitions: std::mem::take(&mut self.new_partitions) };
        let sent = self.shipments.as_ref().expect("open until finish").send(shipment);
        match sent {
            Ok(()) => Ok(()),
            // The encoder stopped, which it does only on an error: report it.
            Err(_) => self.join().map(drop),
        }
    }

    fn join(&mut self) -> Result<Vec<WrittenFile>, SinkError> {
        self.shipments = None;
        let encoder = self.encoder.take().expect("joined once");
        match encoder.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Flushes everything and returns the finished files, ordered by partition and chunk.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        self.ship()?;
        self.join()
    }
}

/// The encoding side: every partition's files, opened, flushed and closed
/// within the memory budget.
struct Files {
    schema: SchemaRef,
    options: SinkOptions,
    properties: WriterProperties,
    workdir: PathBuf,
    file_prefix: String,
    partitions: Vec<PartitionState>,
    open_files: usize,
    max_open_files: usize,
    slices_written: u64,
    written: Vec<WrittenFile>,
    files_opened: u64,
    spill: Option<Spill>,
    /// Last, so that on an early drop the files' writers go before it waits
    /// for its thread.
    disk: Disk,
}

impl Files {
    fn new(schema: SchemaRef, options: SinkOptions, workdir: &Path, file_prefix: &str) -> Self {
        let compression = match options.compression {
            Compression::Snappy => ParquetCompression::SNAPPY,
            Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::default()),
        };
        let metadata = options.metadata.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
        let mut properties = WriterProperties::builder()
            .set_compression(compression)
            .set_dictionary_page_size_limit(DICTIONARY_BYTES)
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_key_value_metadata(Some(metadata))
            .set_created_by(format!("inlet {}", env!("CARGO_PKG_VERSION")));
        for field in schema.fields().iter().filter(|field| !pays_for_a_dictionary(field)) {
            properties = properties.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
        let properties = properties.build();
        Self {
            max_open_files: max_open_files(options.memory_budget_bytes),
            schema,
            options,
            properties,
            workdir: workdir.to_owned(),
            file_prefix: file_prefix.to_owned(),
            partitions: Vec::new(),
            open_files: 0,
            slices_written: 0,
            written: Vec::new(),
            files_opened: 0,
            spill: None,
            disk: Disk::start(),
        }
    }

    /// Encodes shipments until the sender is dropped, then closes every file.
    fn run(mut self, shipments: std::sync::mpsc::Receiver<Shipment>) -> Result<Vec<WrittenFile>, SinkError> {
        let encoded = self.encode(shipments);
        // Files left open by an error must let go of the disk before it is waited for.
        self.partitions.clear();
        // A failed write stops the encoder with a bare "stopped" error; the
        // disk's own error says which file, and why.
        self.disk.finish()?;
        encoded?;
        self.written.sort_by(|a, b| (&a.partition, a.chunk).cmp(&(&b.partition, b.chunk)));
        Ok(self.written)
    }

    fn encode(&mut self, shipments: std::sync::mpsc::Receiver<Shipment>) -> Result<(), SinkError> {
        for shipment in shipments {
            self.partitions.extend(shipment.new_partitions.into_iter().map(|partition| PartitionState {
                partition,
                file: None,
                next_chunk: 0,
                last_written: 0,
                evicted: false,
            }));
            self.write_batch(&shipment.batch, &shipment.ids)?;
        }
        self.close_all_files()?;
        if let Some(spill) = self.spill.take() {
            for bucket in spill.finish()? {
                self.write_back(bucket)?;
            }
        }
        Ok(())
    }

    fn error(&self, id: usize) -> impl Fn(parquet::errors::ParquetError) -> SinkError + use<> {
        let partition = self.partitions[id].partition.to_string();
        move |source| SinkError::Parquet { partition: partition.clone(), source }
    }

    /// Writes a batch to its partitions' files, or sets it aside once the
    /// input has shown its partitions come in no useful order.
    fn write_batch(&mut self, batch: &RecordBatch, ids: &[usize]) -> Result<(), SinkError> {
        if self.spill.is_none() && self.returns_after_eviction(ids) {
            self.close_all_files()?;
            self.spill = Some(Spill::new(&self.schema, &self.workdir, &self.file_prefix));
        }
        match &mut self.spill {
            Some(spill) => spill.write(batch, ids),
            None => self.write_to_files(batch, ids),
        }
    }

    /// Whether a partition of `ids` had its file closed for another's.
    fn returns_after_eviction(&self, ids: &[usize]) -> bool {
        ids.iter().any(|id| self.partitions[*id].evicted && self.partitions[*id].file.is_none())
    }

    /// Writes a bucket of set-aside rows to files of their own, then closes
    /// them: no later row belongs to the bucket's partitions.
    fn write_back(&mut self, bucket: SpilledBucket) -> Result<(), SinkError> {
        for batch in bucket.read_back()? {
            let (batch, ids) = batch?;
            self.write_to_files(&batch, &ids)?;
        }
        self.close_all_files()
    }

    fn close_all_files(&mut self) -> Result<(), SinkError> {
        for id in 0..self.partitions.len() {
            self.close_file(id)?;
        }
        Ok(())
    }

    /// Splits a batch by partition and writes each slice.
    fn write_to_files(&mut self, batch: &RecordBatch, ids: &[usize]) -> Result<(), SinkError> {
        // Sorted input, or a file written a day or a month at a time, keeps
        // each partition's rows together: those are written as slices of the
        // batch, without the copy that gathering them would cost.
        match contiguous_runs(ids) {
            Some(runs) => {
                for (id, rows) in runs {
                    self.write_slice(id, &batch.slice(rows.start, rows.len()))?;
                }
            }
            None => {
                for (id, rows) in group_rows(ids) {
                    let slice = take_record_batch(batch, &UInt32Array::from(rows)).map_err(|e| self.error(id)(e.into()))?;
                    self.write_slice(id, &slice)?;
                }
            }
        }
        self.enforce_memory_budget()
    }

    fn write_slice(&mut self, id: usize, slice: &RecordBatch) -> Result<(), SinkError> {
        if self.partitions[id].file.is_none() {
            self.open_file(id)?;
        }
        self.slices_written += 1;
        let err = self.error(id);
        let state = &mut self.partitions[id];
        state.last_written = self.slices_written;
        let open = state.file.as_mut().expect("opened above");
        open.writer.write(slice).map_err(&err)?;
        open.rows += slice.num_rows() as u64;
        let size = open.writer.bytes_written() as u64 + open.writer.in_progress_size() as u64;
        if size >= self.options.target_file_bytes {
            self.close_file(id)?;
        }
        Ok(())
    }

    fn open_file(&mut self, id: usize) -> Result<(), SinkError> {
        if self.open_files >= self.max_open_files {
            let least_recent = (0..self.partitions.len())
                .filter(|other| self.partitions[*other].file.is_some())
                .min_by_key(|other| self.partitions[*other].last_written)
                .expect("a file is open");
            self.close_file(least_recent)?;
            self.partitions[least_recent].evicted = true;
        }
        let err = self.error(id);
        self.files_opened += 1;
        let path = self.workdir.join(format!("{}-{}.parquet", self.file_prefix, self.files_opened));
        let file = self.disk.create(self.files_opened, path.clone());
        let writer = ArrowWriter::try_new(file, Arc::clone(&self.schema), Some(self.properties.clone())).map_err(&err)?;
        self.partitions[id].file = Some(OpenFile { writer, path, rows: 0 });
        self.open_files += 1;
        Ok(())
    }

    fn close_file(&mut self, id: usize) -> Result<(), SinkError> {
        let err = self.error(id);
        let state = &mut self.partitions[id];
        let Some(open) = state.file.take() else { return Ok(()) };
        self.open_files -= 1;
        let chunk = state.next_chunk;
        state.next_chunk += 1;
        let file = open.writer.into_inner().map_err(&err)?;
        let bytes = file.close().map_err(|e| err(e.into()))?;
        self.written.push(WrittenFile { partition: state.partition.clone(), chunk, path: open.path, rows: open.rows, bytes });
        Ok(())
    }

    /// Flushes the biggest buffered row groups until the total fits the budget.
    fn enforce_memory_budget(&mut self) -> Result<(), SinkError> {
        loop {
            let buffered = |state: &PartitionState| state.file.as_ref().map_or(0, |open| open.writer.in_progress_size());
            let total: usize = self.partitions.iter().map(buffered).sum();
            // The first of equals wins, so the choice follows the input alone.
            let largest = (0..self.partitions.len()).rev().max_by_key(|id| buffered(&self.partitions[*id]));
            match largest {
                Some(id) if total > self.options.memory_budget_bytes && buffered(&self.partitions[id]) > 0 => {
                    let err = self.error(id);
                    let open = self.partitions[id].file.as_mut().expect("it buffers rows");
                    open.writer.flush().map_err(err)?;
                }
                _ => return Ok(()),
            }
        }
    }
}

/// Partitions a batch may touch and still be written as slices: beyond a
/// few, each slice is a handful of rows, and one gathered write per
/// partition costs less than many small ones.
const MAX_SLICED_PARTITIONS: usize = 16;

/// The rows of each partition id as one range, partitions in the order they
/// first appear, which are [`group_rows`]'s groups; `None` when a partition's
/// rows are not all together or the batch touches too many partitions.
pub(super) fn contiguous_runs(ids: &[usize]) -> Option<Vec<(usize, Range<usize>)>> {
    let mut runs: Vec<(usize, Range<usize>)> = Vec::new();
    for (row, id) in ids.iter().enumerate() {
        match runs.last_mut() {
            Some((last, rows)) if last == id => rows.end = row + 1,
            _ => {
                if runs.len() == MAX_SLICED_PARTITIONS || runs.iter().any(|(seen, _)| seen == id) {
                    return None;
                }
                runs.push((*id, row..row + 1));
            }
        }
    }
    Some(runs)
}

/// Row indices per partition id, partitions in the order they first appear.
pub(super) fn group_rows(ids: &[usize]) -> Vec<(usize, Vec<u32>)> {
    let mut groups: Vec<(usize, Vec<u32>)> = Vec::new();
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    // Rows come in runs of one partition, so the map is asked only when the
    // partition changes: hashing every row was most of this in profiles.
    let mut current: Option<(usize, usize)> = None;
    for (row, id) in ids.iter().enumerate() {
        let group = match current {
            Some((last, group)) if last == *id => group,
            _ => *group_of.entry(*id).or_insert_with(|| {
                groups.push((*id, Vec::new()));
                groups.len() - 1
            }),
        };
        current = Some((*id, group));
        groups[group].1.push(row as u32);
    }
    groups
}
