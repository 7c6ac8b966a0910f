//! Where things live in the buckets: the input lifecycle prefixes and the
//! deterministic names of output files.
//!
//! Output names are derived from the source, never random, so processing the
//! same object again writes the same keys and replaces its own files instead
//! of adding rows.

use sha2::{Digest, Sha256};

pub use inlet_contract::prefixes::{ARCHIVE_MANIFESTS, BOOKKEEPING, DIRECT, DONE, FAILED, INBOX, MANIFESTS, ORIGINS, RUN_FOLDER};

#[cfg(feature = "engine")]
use crate::{partition::Partition, pipeline::Compression};

/// `in/a/b.csv` → `a/b.csv`: the key relative to the lifecycle prefix it is under.
pub fn relative_key(key: &str) -> &str {
    [INBOX, DIRECT, DONE, FAILED].iter().find_map(|prefix| key.strip_prefix(prefix)).unwrap_or(key)
}

/// `direct/a/b.csv` → `in/a/b.csv`: the key an input counts as, wherever it
/// is in its lifecycle. Routing, row provenance and manifests use it, so a
/// file processed by `inlet ingest --here` is the same source as the same
/// file dropped into `in/`.
pub fn identity_key(key: &str) -> String {
    format!("{INBOX}{}", relative_key(key))
}

/// The longest key S3 takes, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The longest name most local file systems give one folder or file.
pub const MAX_NAME_BYTES: usize = 255;
/// How much of a long file name a shortened key keeps.
const SHORTENED_NAME_TAIL_BYTES: usize = 100;

/// The key of `key` once moved under `prefix` (`done/` or `failed/`).
///
/// The same relative path, unless that key or its error document's would be
/// longer than S3 allows, or have a name longer than a local file system
/// allows: then `<prefix><hash>~<end of the file name>`, which is
/// deterministic and keeps the extension. The error document and the
/// manifests hold the original key.
pub fn lifecycle_key(key: &str, prefix: &str) -> String {
    let relative = relative_key(key);
    let moved = format!("{prefix}{relative}");
    if fits(&error_document_key(&moved)) { moved } else { format!("{prefix}{}", shortened(relative)) }
}

fn fits(key: &str) -> bool {
    key.len() <= MAX_KEY_BYTES && key.split('/').all(|name| name.len() <= MAX_NAME_BYTES)
}

fn shortened(relative: &str) -> String {
    let digest = hex::encode(&Sha256::digest(relative.as_bytes())[..8]);
    let name = relative.rsplit('/').next().unwrap_or(relative);
    let mut start = name.len().saturating_sub(SHORTENED_NAME_TAIL_BYTES);
    while !name.is_char_boundary(start) {
        start += 1;
    }
    format!("{digest}~{}", &name[start..])
}

/// The error document beside a failed object.
pub fn error_document_key(failed_key: &str) -> String {
    format!("{failed_key}{}", inlet_contract::prefixes::ERROR_DOCUMENT_SUFFIX)
}

/// A stable id for a source object: it does not change when the object moves
/// between `in/`, `done/` and `failed/`.
pub fn source_id(bucket: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{bucket}/{}", relative_key(key)).as_bytes());
    hex::encode(&digest[..8])
}

/// The key of one output file.
///
/// `<table>/<k>=<v>/…/part-<source id>-<content hash>-<chunk>.<codec>.parquet`:
/// the source id makes it unique per source, the content hash per version of
/// that source, the chunk per file within one partition.
#[cfg(feature = "engine")]
pub fn output_key(
    table: &str,
    partition: &Partition,
    source_id: &str,
    content_sha256: &str,
    chunk: u32,
    compression: Compression,
) -> String {
    let mut key = partition.prefix_in(table);
    let codec = match compression {
        Compression::Snappy => "snappy",
        Compression::Zstd => "zstd",
    };
    let version = &content_sha256[..content_sha256.len().min(12)];
    key.push_str(&format!("part-{source_id}-{version}-{chunk:04}.{codec}.parquet"));
    key
}

/// The suffix of the table that holds a table's rejected rows.
pub const REJECTS_TABLE_SUFFIX: &str = "_rejects";

/// The table that holds `table`'s rejected rows.
pub fn rejects_table(table: &str) -> String {
    format!("{table}{REJECTS_TABLE_SUFFIX}")
}

/// What one source wrote.
pub fn manifest_key(source_id: &str) -> String {
    format!("{MANIFESTS}{source_id}.json")
}

/// Where an archive member's origin is recorded: the archive's correlation id.
pub fn origin_key(source_id: &str) -> String {
    format!("{ORIGINS}{source_id}.json")
}

/// The correlation id of an input that came on its own (not from an
/// archive): the same for every delivery of one upload, so duplicates and
/// retries of it share it, and new for a new upload of the same key.
pub fn correlation_id(bucket: &str, key: &str, version: Option<&str>) -> String {
    let digest = Sha256::digest(format!("{bucket}/{}\n{}", relative_key(key), version.unwrap_or_default()).as_bytes());
    hex::encode(&digest[..8])
}

/// Which members one archive held.
pub fn archive_manifest_key(source_id: &str) -> String {
    format!("{ARCHIVE_MANIFESTS}{source_id}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_keys_keep_the_relative_path() {
        assert_eq!(lifecycle_key("in/a/b c.csv", DONE), "done/a/b c.csv");
        assert_eq!(lifecycle_key("in/x.zip", FAILED), "failed/x.zip");
        assert_eq!(error_document_key("failed/x.zip"), "failed/x.zip.error.json");
        assert_eq!(lifecycle_key("direct/a/b.csv", DONE), "done/a/b.csv");
    }

    #[test]
    fn a_key_too_long_to_move_is_shortened_with_a_hash() {
        let folder = "f".repeat(250);
        let key = format!("in/{folder}/{folder}/{folder}/{folder}/{}é.csv", "n".repeat(1024 - 3 - 4 * 251 - 6));
        assert_eq!(key.len(), 1024);
        for prefix in [DONE, FAILED] {
            let moved = lifecycle_key(&key, prefix);
            let document = error_document_key(&moved);
            assert!(document.len() <= MAX_KEY_BYTES, "{}", document.len());
            assert!(document.split('/').all(|name| name.len() <= MAX_NAME_BYTES));
            assert!(moved.starts_with(prefix) && moved.ends_with("né.csv"), "{moved}");
            assert_eq!(moved, lifecycle_key(&key, prefix), "deterministic");
        }
        let sibling = key.replace("/nnn", "/mnn");
        assert_ne!(lifecycle_key(&key, DONE), lifecycle_key(&sibling, DONE), "a different key, a different name");

        let long_name = format!("in/{}.csv", "x".repeat(245));
        assert!(lifecycle_key(&long_name, FAILED).len() < 130, "a name whose error document would pass 255 bytes");
    }

    #[test]
    fn a_direct_input_is_the_same_source_as_its_inbox_twin() {
        assert_eq!(identity_key("direct/a/b.csv"), "in/a/b.csv");
        assert_eq!(identity_key("in/a/b.csv"), "in/a/b.csv");
        assert_eq!(source_id("input", "direct/a.csv"), source_id("input", "in/a.csv"));
    }

    #[test]
    fn source_ids_survive_moves_and_differ_per_key() {
        assert_eq!(source_id("input", "in/a.csv"), source_id("input", "done/a.csv"));
        assert_ne!(source_id("input", "in/a.csv"), source_id("input", "in/b.csv"));
        assert_ne!(source_id("input", "in/a.csv"), source_id("other", "in/a.csv"));
    }

    #[test]
    #[cfg(feature = "engine")]
    fn output_keys_are_deterministic_and_hive_shaped() {
        let partition = Partition::new(vec![("location".to_owned(), "humboldt".to_owned()), ("year".to_owned(), "2020".to_owned())]);
        let key = output_key("t", &partition, "0123456789abcdef", "ffeeddccbbaa99887766", 3, Compression::Snappy);
        assert_eq!(key, "t/location=humboldt/year=2020/part-0123456789abcdef-ffeeddccbbaa-0003.snappy.parquet");
        let file_name = key.rsplit('/').next().unwrap();
        assert!(!file_name.starts_with('_') && !file_name.starts_with('.'));
    }
}
