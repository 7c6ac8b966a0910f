//! Where things live in the buckets.

/// Where new input lands, in the input bucket.
pub const INBOX: &str = "in/";
/// Where processed input goes.
pub const DONE: &str = "done/";
/// Where input that could not be processed goes, with an error document.
pub const FAILED: &str = "failed/";
/// Where the downloader streams a fetched file before deciding whether it is
/// new. No notification watches it: only what moves on to `in/` is ingested.
pub const STAGING: &str = "staging/";
/// Where `inlet ingest --here` puts a file it processes itself. No
/// notification watches it, so no function processes the file a second time;
/// names and manifests count it as `in/<name>`, so a later upload of the same
/// file through `in/` replaces its rows instead of adding to them.
pub const DIRECT: &str = "direct/";
/// The folders a new input bucket starts with.
pub const INPUT_FOLDERS: [&str; 3] = [INBOX, DONE, FAILED];

/// Bookkeeping in the output bucket. The leading underscore keeps Hive-style
/// readers (Athena, Spark, DuckDB) from taking it for data.
pub const BOOKKEEPING: &str = "_inlet/";
/// What each source wrote, so a new version of it can replace its outputs.
pub const MANIFESTS: &str = "_inlet/manifests/";
/// Which archive each expanded member came from, so the member's processing
/// carries the archive's correlation id.
pub const ORIGINS: &str = "_inlet/origins/";
/// Which members each archive held, so a new version can remove the gone ones.
pub const ARCHIVE_MANIFESTS: &str = "_inlet/archives/";

/// Every scratch folder's name starts with this, so a sweep finds those of
/// dead runs and nothing else.
pub const SCRATCH: &str = "inlet-";

/// The error document written beside a failed input.
pub const ERROR_DOCUMENT_SUFFIX: &str = ".error.json";

/// A backfill on Spark writes each partition into a folder of its own run,
/// `<table>/<k>=<v>/…/run-<correlation id>-<time>/`, then points the
/// catalog's partition at it and deletes the partition's other run folders,
/// so a reader never sees half a day. The steps' scripts
/// (`pipelines/*/emr/`) use the same name.
pub const RUN_FOLDER: &str = "run-";
