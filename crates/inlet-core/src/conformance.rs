//! Conformance suites for the backends: what every [`ObjectStore`] and every
//! [`Catalog`] must do, written once and run by each backend's tests (the
//! local ones here, S3 and Glue against moto's server in `inlet-lambda`).
//!
//! Each check panics with a message naming the broken promise.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::catalog::{self, Catalog, CatalogColumn, CatalogError, PartitionDefinition, TableDefinition, VersionedTable};
use crate::storage::{ObjectLocation, ObjectStore, StoreError};

/// Runs every object-store check against `bucket`, which must exist and be empty.
pub async fn object_store(store: &dyn ObjectStore, bucket: &str) {
    put_get_head_and_list(store, bucket).await;
    not_found_is_its_own_error(store, bucket).await;
    put_if_absent(store, bucket).await;
    guarded_rename(store, bucket).await;
    streamed_uploads(store, bucket).await;
    scratch_files(store, bucket).await;
}

async fn put_get_head_and_list(store: &dyn ObjectStore, bucket: &str) {
    let at = |key: &str| ObjectLocation::new(bucket, key);
    for key in ["in/a.csv", "in/sub/b c+d.csv", "inbox.csv", "done/a.csv"] {
        store.put_bytes(&at(key), key.as_bytes().to_vec()).await.unwrap_or_else(|e| panic!("put {key}: {e}"));
    }
    assert_eq!(store.get_bytes(&at("in/sub/b c+d.csv")).await.unwrap().unwrap(), b"in/sub/b c+d.csv");
    assert_eq!(store.head(&at("in/a.csv")).await.unwrap().size, 8);
    let listed = |prefix: &'static str| async move {
        store.list(bucket, prefix).await.unwrap().into_iter().map(|m| m.location.key).collect::<Vec<_>>()
    };
    assert_eq!(listed("in/").await, ["in/a.csv", "in/sub/b c+d.csv"], "a prefix lists only the keys under it, sorted");
    assert_eq!(listed("in").await, ["in/a.csv", "in/sub/b c+d.csv", "inbox.csv"], "a prefix need not end at a folder");
    assert_eq!(listed("").await.len(), 4);

    store.delete(&at("in/a.csv")).await.unwrap();
    store.delete(&at("in/a.csv")).await.expect("deleting a missing object succeeds");
    assert_eq!(listed("in/").await, ["in/sub/b c+d.csv"]);
    for key in ["in/sub/b c+d.csv", "inbox.csv", "done/a.csv"] {
        store.delete(&at(key)).await.unwrap();
    }
    assert!(listed("").await.is_empty());
}

async fn not_found_is_its_own_error(store: &dyn ObjectStore, bucket: &str) {
    let missing = ObjectLocation::new(bucket, "in/missing.csv");
    assert!(store.head(&missing).await.unwrap_err().is_not_found(), "head of a missing object is NotFound");
    assert!(store.get(&missing).await.err().expect("get of a missing object fails").is_not_found());
    assert!(store.get_bytes(&missing).await.unwrap().is_none(), "get_bytes of a missing object is None, not an error");
    let err = store.rename(&missing, &ObjectLocation::new(bucket, "done/missing.csv"), None).await.unwrap_err();
    assert!(err.is_not_found(), "rename of a missing object is NotFound: {err}");
}

async fn put_if_absent(store: &dyn ObjectStore, bucket: &str) {
    let location = ObjectLocation::new(bucket, "state/once.json");
    store.put_bytes_if_absent(&location, b"first".to_vec()).await.expect("the first conditional put succeeds");
    let err = store.put_bytes_if_absent(&location, b"second".to_vec()).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "the second conditional put is refused: {err}");
    assert_eq!(store.get_bytes(&location).await.unwrap().unwrap(), b"first", "the refused put changed nothing");
    store.delete(&location).await.unwrap();
}

async fn guarded_rename(store: &dyn ObjectStore, bucket: &str) {
    let source = ObjectLocation::new(bucket, "in/race.csv");
    let done = ObjectLocation::new(bucket, "done/race.csv");
    store.put_bytes(&source, b"old".to_vec()).await.unwrap();
    let seen = store.head(&source).await.unwrap().e_tag.expect("objects have an e-tag");
    // A new version with another size, so every backend's e-tag changes.
    store.put_bytes(&source, b"newer".to_vec()).await.unwrap();

    let err = store.rename(&source, &done, Some(&seen)).await.unwrap_err();
    assert!(err.is_changed(), "a rename guarded by a stale e-tag answers Changed: {err}");
    assert_eq!(store.get_bytes(&source).await.unwrap().unwrap(), b"newer", "the new version stays in place");

    let current = store.head(&source).await.unwrap().e_tag.unwrap();
    store.rename(&source, &done, Some(&current)).await.expect("a rename guarded by the current e-tag moves");
    assert!(store.head(&source).await.unwrap_err().is_not_found());
    assert_eq!(store.get_bytes(&done).await.unwrap().unwrap(), b"newer");
    store.delete(&done).await.unwrap();
}

/// A stream larger than a multipart part arrives whole; one that fails
/// half-way leaves no object, and its reader's error stays findable.
async fn streamed_uploads(store: &dyn ObjectStore, bucket: &str) {
    use tokio::io::AsyncReadExt;

    let large = ObjectLocation::new(bucket, "stream/large.bin");
    const SIZE: u64 = 20 << 20;
    let meta = store.put_stream(&large, Box::pin(tokio::io::repeat(b'x').take(SIZE))).await.expect("a 20 MiB stream uploads");
    assert_eq!(meta.size, SIZE);
    assert_eq!(store.get_range(&large, SIZE - 3..SIZE).await.unwrap(), b"xxx", "the last part arrived");
    let small = ObjectLocation::new(bucket, "stream/small.bin");
    assert_eq!(store.put_stream(&small, Box::pin(&b"tiny"[..])).await.unwrap().size, 4);

    let broken = ObjectLocation::new(bucket, "stream/broken.bin");
    let failing = tokio::io::repeat(b'y').take(12 << 20).chain(FailingReader);
    let err = store.put_stream(&broken, Box::pin(failing)).await.unwrap_err();
    let StoreError::Io { source, .. } = &err else { panic!("a failed reader is an Io error: {err}") };
    assert_eq!(source.to_string(), "the source went away", "the reader's own error is kept");
    assert!(store.head(&broken).await.unwrap_err().is_not_found(), "a failed stream leaves no object");
    for location in [large, small] {
        store.delete(&location).await.unwrap();
    }
}

/// A scratch file uploads whole, whether the backend moves or copies it; a
/// plain file upload leaves its source as it was.
async fn scratch_files(store: &dyn ObjectStore, bucket: &str) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let (kept, scratch) = (folder.path().join("kept.parquet"), folder.path().join("scratch.parquet"));
    for path in [&kept, &scratch] {
        std::fs::write(path, b"PAR1 columns PAR1").expect("a local file");
    }
    let (copied, moved) = (ObjectLocation::new(bucket, "out/kept.parquet"), ObjectLocation::new(bucket, "out/scratch.parquet"));
    store.put_file(&copied, &kept).await.expect("put_file");
    store.put_scratch_file(&moved, &scratch).await.expect("put_scratch_file");
    for location in [&copied, &moved] {
        assert_eq!(store.get_bytes(location).await.unwrap().unwrap(), b"PAR1 columns PAR1", "{location} arrived whole");
        store.delete(location).await.unwrap();
    }
    assert_eq!(std::fs::read(&kept).unwrap(), b"PAR1 columns PAR1", "put_file leaves its source alone");
}

/// A reader whose source breaks.
struct FailingReader;

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::Error::other("the source went away")))
    }
}

fn column(name: &str, data_type: &str) -> CatalogColumn {
    CatalogColumn { name: name.into(), data_type: data_type.into(), comment: None, parameters: BTreeMap::new() }
}

/// A table `name` in `database` with `columns` and one partition key, `year`.
pub fn sample_table(database: &str, name: &str, columns: &[(&str, &str)]) -> TableDefinition {
    TableDefinition {
        database: database.into(),
        name: name.into(),
        columns: columns.iter().map(|(n, t)| column(n, t)).collect(),
        partition_keys: vec![column("year", "string")],
        location: format!("s3://output/{name}/"),
        parameters: BTreeMap::from([("classification".to_owned(), "parquet".to_owned())]),
    }
}

/// Runs every catalog check in `database`, which must exist. A backend that
/// does not check update versions itself (moto's Glue) passes
/// `enforces_versions: false`, and the stale-update check is skipped, saying so.
pub async fn catalog(catalog: &dyn Catalog, database: &str, enforces_versions: bool) {
    create_get_and_update(catalog, database, enforces_versions).await;
    partitions_are_idempotent(catalog, database).await;
}

async fn create_get_and_update(catalog: &dyn Catalog, database: &str, enforces_versions: bool) {
    let table = sample_table(database, "conformance_t", &[("time", "timestamp"), ("a", "double")]);
    assert!(catalog.get_table(database, "conformance_t").await.unwrap().is_none(), "a missing table reads as None");
    catalog.put_table(&table, None).await.expect("a new table is created");
    let read = catalog.get_table(database, "conformance_t").await.unwrap().expect("the created table reads back");
    assert_eq!(read.table.columns, table.columns);
    assert_eq!(read.table.partition_keys, table.partition_keys);

    let err = catalog.put_table(&table, None).await.unwrap_err();
    assert!(matches!(err, CatalogError::Conflict { .. }), "creating an existing table conflicts: {err}");

    let widened = read.table.merged_with(&sample_table(database, "conformance_t", &[("b", "bigint")])).unwrap();
    catalog.put_table(&widened, read.version.as_deref()).await.expect("an update at the version read applies");
    let names: Vec<String> =
        catalog.get_table(database, "conformance_t").await.unwrap().unwrap().table.columns.into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["time", "a", "b"]);

    if enforces_versions {
        let err = catalog.put_table(&read.table, read.version.as_deref()).await.unwrap_err();
        assert!(matches!(err, CatalogError::Conflict { .. }), "an update at a stale version conflicts: {err}");
        let names = catalog.get_table(database, "conformance_t").await.unwrap().unwrap().table.columns.len();
        assert_eq!(names, 3, "the refused update changed nothing");
    } else {
        eprintln!("this backend does not enforce table versions itself; the stale-update check is shown through a wrapper instead");
    }
}

async fn partitions_are_idempotent(catalog: &dyn Catalog, database: &str) {
    let table = sample_table(database, "conformance_p", &[("time", "timestamp")]);
    let partitions: Vec<PartitionDefinition> = (0..250)
        .map(|i| PartitionDefinition {
            values: vec![format!("{}", 1800 + i)],
            location: format!("s3://output/conformance_p/year={}/", 1800 + i),
        })
        .collect();
    let added = catalog::register(catalog, &table, &partitions).await.unwrap();
    assert_eq!(added, 250, "new partitions count as added");
    let again = catalog::register(catalog, &table, &partitions[..120]).await.unwrap();
    assert_eq!(again, 0, "existing partitions count as success, not as added");
    let mut listed = catalog.list_partitions(database, "conformance_p").await.unwrap();
    listed.sort();
    assert_eq!(listed.len(), 250);
    assert_eq!(listed[0].values, ["1800"]);
    let err = catalog.add_partitions(database, "conformance_missing", &partitions[..1]).await.unwrap_err();
    assert!(matches!(err, CatalogError::TableNotFound { .. }), "partitions of a missing table: {err}");
}

/// Two writers widen one table at once, each adding a column, in the worst
/// interleaving: both read the table before either writes. Both columns must
/// survive. `catalog` must reject stale updates (directly, or through
/// [`VersionChecked`] where the backend under test does not).
pub async fn concurrent_schema_updates(catalog: Arc<dyn Catalog>, database: &str) {
    let table = "conformance_concurrent";
    catalog.put_table(&sample_table(database, table, &[("time", "timestamp")]), None).await.expect("the table is created");
    let shared = Arc::new(ReadTogether { inner: catalog, barrier: tokio::sync::Barrier::new(2), first_reads: AtomicUsize::new(0) });
    let writers = ["a", "b"].map(|column| {
        let shared = Arc::clone(&shared);
        let incoming = sample_table(database, table, &[("time", "timestamp"), (column, "double")]);
        tokio::spawn(async move { catalog::register(shared.as_ref(), &incoming, &[]).await })
    });
    for writer in writers {
        writer.await.expect("the writer does not panic").expect("the writer's registration succeeds");
    }
    let read = shared.inner.get_table(database, table).await.unwrap().unwrap().table;
    let mut names: Vec<String> = read.columns.into_iter().map(|c| c.name).collect();
    names.sort();
    assert_eq!(names, ["a", "b", "time"], "neither concurrent writer's column was lost");
}

/// Lets the first two table reads return only once both have happened.
#[derive(Debug)]
struct ReadTogether {
    inner: Arc<dyn Catalog>,
    barrier: tokio::sync::Barrier,
    first_reads: AtomicUsize,
}

#[async_trait]
impl Catalog for ReadTogether {
    async fn get_table(&self, database: &str, table: &str) -> Result<Option<VersionedTable>, CatalogError> {
        let read = self.inner.get_table(database, table).await;
        if self.first_reads.fetch_add(1, Ordering::SeqCst) < 2 {
            self.barrier.wait().await;
        }
        read
    }
    async fn put_table(&self, table: &TableDefinition, expected: Option<&str>) -> Result<(), CatalogError> {
        self.inner.put_table(table, expected).await
    }
    async fn add_partitions(&self, database: &str, table: &str, partitions: &[PartitionDefinition]) -> Result<usize, CatalogError> {
        self.inner.add_partitions(database, table, partitions).await
    }
    async fn list_tables(&self, database: &str) -> Result<Vec<TableDefinition>, CatalogError> {
        self.inner.list_tables(database).await
    }
    async fn list_partitions(&self, database: &str, table: &str) -> Result<Vec<PartitionDefinition>, CatalogError> {
        self.inner.list_partitions(database, table).await
    }
}

/// Enforces table versions in front of a backend that does not (moto's
/// Glue accepts a stale `VersionId`): an update whose expected version is not
/// the current one is refused as AWS would refuse it. One writer at a time
/// passes the check, so the check and the update cannot interleave.
#[derive(Debug)]
pub struct VersionChecked {
    inner: Arc<dyn Catalog>,
    gate: tokio::sync::Mutex<()>,
}

impl VersionChecked {
    pub fn new(inner: Arc<dyn Catalog>) -> Self {
        Self { inner, gate: tokio::sync::Mutex::new(()) }
    }
}

#[async_trait]
impl Catalog for VersionChecked {
    async fn get_table(&self, database: &str, table: &str) -> Result<Option<VersionedTable>, CatalogError> {
        self.inner.get_table(database, table).await
    }
    async fn put_table(&self, table: &TableDefinition, expected: Option<&str>) -> Result<(), CatalogError> {
        let _one_at_a_time = self.gate.lock().await;
        let current = self.inner.get_table(&table.database, &table.name).await?.map(|t| t.version);
        let stale = match (current, expected) {
            (None, None) => false,
            (Some(current), Some(expected)) => current.as_deref() != Some(expected),
            _ => true,
        };
        if stale {
            return Err(CatalogError::Conflict { database: table.database.clone(), table: table.name.clone() });
        }
        self.inner.put_table(table, expected).await
    }
    async fn add_partitions(&self, database: &str, table: &str, partitions: &[PartitionDefinition]) -> Result<usize, CatalogError> {
        self.inner.add_partitions(database, table, partitions).await
    }
    async fn list_tables(&self, database: &str) -> Result<Vec<TableDefinition>, CatalogError> {
        self.inner.list_tables(database).await
    }
    async fn list_partitions(&self, database: &str, table: &str) -> Result<Vec<PartitionDefinition>, CatalogError> {
        self.inner.list_partitions(database, table).await
    }
}
