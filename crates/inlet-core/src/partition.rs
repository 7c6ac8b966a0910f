//! Hive partitions: the `k=v/…` folders under a table.
//!
//! [`Partition`] is the one place where partition paths are built and parsed.
//! Values are escaped as Hive and Spark escape them (`%XX` for `/`, `=`, `:`,
//! `%` and the other characters their `escapePathName` lists), so any value
//! round-trips, and a value never carries a `:`, which Athena's tools trip on.

use std::fmt;

use inlet_contract::prefixes::RUN_FOLDER;
use serde::{Deserialize, Serialize};

/// The value Hive, Glue and Athena use for an empty or null partition value,
/// in the catalog and in the folder name alike.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// One partition: `(key, value)` pairs, outermost folder first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Partition(Vec<(String, String)>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path:?} is not a Hive partition path: {reason}")]
pub struct PartitionPathError {
    pub path: String,
    pub reason: &'static str,
}

impl Partition {
    /// A partition of these pairs; an empty value becomes [`DEFAULT_PARTITION`].
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| if v.is_empty() { (k, DEFAULT_PARTITION.to_owned()) } else { (k, v) }).collect())
    }

    /// The pairs of `keys` and `values`, zipped in order.
    pub fn from_keys_and_values<K: AsRef<str>, V: AsRef<str>>(keys: &[K], values: &[V]) -> Self {
        Self::new(keys.iter().zip(values).map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned())).collect())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keys(&self) -> Vec<String> {
        self.0.iter().map(|(k, _)| k.clone()).collect()
    }

    pub fn values(&self) -> Vec<String> {
        self.0.iter().map(|(_, v)| v.clone()).collect()
    }

    /// `k=v/k2=v2`, escaped; empty for an unpartitioned table.
    pub fn path(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect::<Vec<_>>().join("/")
    }

    /// The folder of this partition in `table`: `<table>/k=v/…/`.
    pub fn prefix_in(&self, table: &str) -> String {
        let path = self.path();
        if path.is_empty() { format!("{table}/") } else { format!("{table}/{path}/") }
    }

    /// Parses a [`Partition::path`], with or without a trailing slash.
    pub fn parse(path: &str) -> Result<Self, PartitionPathError> {
        let error = |reason| PartitionPathError { path: path.to_owned(), reason };
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        let mut pairs = Vec::new();
        for segment in trimmed.split('/') {
            let (key, value) = segment.split_once('=').ok_or_else(|| error("a folder has no '='"))?;
            if key.is_empty() {
                return Err(error("a folder has an empty key"));
            }
            let key = unescape(key).ok_or_else(|| error("a key has a bad %-escape"))?;
            let value = unescape(value).ok_or_else(|| error("a value has a bad %-escape"))?;
            pairs.push((key, value));
        }
        Ok(Self(pairs))
    }

    /// Splits an object key `<table>/k=v/…/<file>` into its table, partition
    /// and file name; `None` when the folders are not all `k=v`. A last
    /// folder of a backfill's run (`run-…`, see [`RUN_FOLDER`]) belongs to
    /// the partition above it.
    pub fn split_key(key: &str) -> Option<(&str, Partition, &str)> {
        let (folders, file) = key.rsplit_once('/')?;
        let (table, path) = folders.split_once('/').unwrap_or((folders, ""));
        let path = match path.rsplit_once('/') {
            Some((partition, last)) if last.starts_with(RUN_FOLDER) && !last.contains('=') => partition,
            _ => path,
        };
        if table.is_empty() || file.is_empty() {
            return None;
        }
        Some((table, Partition::parse(path).ok()?, file))
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str("(unpartitioned)") } else { f.write_str(&self.path()) }
    }
}

/// Hive's `FileUtils.escapePathName` set: control characters and
/// `"#%'*/:=?\{[]^` and DEL.
fn needs_escape(c: char) -> bool {
    matches!(c, '\u{01}'..='\u{1F}' | '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '\u{7F}' | '{' | '[' | ']' | '^')
        || c == '\0'
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if needs_escape(c) {
            escaped.push_str(&format!("%{:02X}", c as u32));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn partition(pairs: &[(&str, &str)]) -> Partition {
        Partition::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn plain_values_read_as_they_are() {
        let p = partition(&[("location", "humboldt"), ("year", "2020"), ("month", "12")]);
        assert_eq!(p.path(), "location=humboldt/year=2020/month=12");
        assert_eq!(p.prefix_in("t"), "t/location=humboldt/year=2020/month=12/");
        assert_eq!(Partition::parse("location=humboldt/year=2020/month=12/").unwrap(), p);
        assert_eq!(Partition::default().prefix_in("t_rejects"), "t_rejects/");
    }

    #[test]
    fn special_characters_are_escaped_as_hive_does() {
        let p = partition(&[("t", "2020-01-01 10:00"), ("path", "a/b=c%d")]);
        assert_eq!(p.path(), "t=2020-01-01 10%3A00/path=a%2Fb%3Dc%25d");
        assert!(!p.path().contains(':'));
        assert_eq!(partition(&[("k", "")]).path(), "k=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(partition(&[("k", "")]).values(), [DEFAULT_PARTITION], "the catalog registers Hive's name for it");
    }

    #[test]
    fn keys_split_into_table_partition_and_file() {
        let (table, p, file) = Partition::split_key("t/year=2020/month=1/part-a.parquet").unwrap();
        assert_eq!((table, file), ("t", "part-a.parquet"));
        assert_eq!(p, partition(&[("year", "2020"), ("month", "1")]));
        let (table, p, _) = Partition::split_key("t_rejects/part-a.parquet").unwrap();
        assert_eq!(table, "t_rejects");
        assert!(p.is_empty());
        assert!(Partition::split_key("t/nokey/x.parquet").is_none());
        assert!(Partition::split_key("x.parquet").is_none());
        let (_, p, _) = Partition::split_key("t/a=1/run-kind=x/part-a.parquet").unwrap();
        assert_eq!(p, partition(&[("a", "1"), ("run-kind", "x")]), "a k=v folder is a partition, whatever its name");
        assert!(Partition::parse("year=%zz").is_err());
    }

    proptest! {
        #[test]
        fn a_run_folder_belongs_to_its_partition(p in proptest::collection::vec(("[a-z_]{1,6}", "[a-z0-9-]{1,8}"), 1..3)) {
            let p = Partition::new(p);
            let key = format!("{}{RUN_FOLDER}c1-20240115T000000/part-0.parquet", p.prefix_in("t"));
            let (table, split, _) = Partition::split_key(&key).unwrap();
            prop_assert_eq!((table, split), ("t", p));
        }

        #[test]
        fn parse_inverts_path(pairs in proptest::collection::vec(("[a-z_][a-z0-9_ %=/:]{0,8}", "\\PC{0,12}|[/=% :]{1,4}"), 0..4)) {
            let p = Partition::new(pairs);
            let parsed = Partition::parse(&p.path()).unwrap();
            prop_assert_eq!(parsed, p.clone());
            let key = format!("{}part-0.parquet", p.prefix_in("t"));
            let (table, split, file) = Partition::split_key(&key).unwrap();
            prop_assert_eq!((table, file), ("t", "part-0.parquet"));
            prop_assert_eq!(split, p);
        }
    }
}
