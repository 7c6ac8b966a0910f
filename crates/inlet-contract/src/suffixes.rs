//! What a dropped file is, by the end of its name.
//!
//! S3 notification filters are case-sensitive and may not overlap, so the
//! stacks send every object created under `in/` to one entry point, which
//! decides here, on the lower-cased name.

/// Archives, expanded by the unzip function. `.gz` alone is one gzipped file.
pub const ARCHIVE_SUFFIXES: [&str; 5] = [".zip", ".tar.gz", ".tgz", ".tar", ".gz"];

/// Files a pipeline reads.
pub const DATA_SUFFIXES: [&str; 7] = [".csv", ".txt", ".asc", ".xml", ".json", ".jsonl", ".ndjson"];

/// What the entry point does with a key under `in/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A folder marker (`in/dir/`): not a file, nothing to do.
    FolderMarker,
    /// An archive: expand it.
    Archive,
    /// A data file: route it to a pipeline.
    Data,
    /// Neither: it goes to `failed/` with the reason.
    Unsupported,
}

impl InputKind {
    pub fn of(key: &str) -> Self {
        if key.ends_with('/') {
            return InputKind::FolderMarker;
        }
        let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
        if ARCHIVE_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            InputKind::Archive
        } else if DATA_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            InputKind::Data
        } else {
            InputKind::Unsupported
        }
    }
}

/// Why a key of [`InputKind::Unsupported`] is refused, for its error document.
pub fn unsupported_reason(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    format!(
        "{name:?} is neither an archive ({}) nor a file a pipeline reads ({}); rename it with the right suffix, or convert it first",
        ARCHIVE_SUFFIXES.join(" "),
        DATA_SUFFIXES.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_ignores_case_and_folders() {
        for (key, kind) in [
            ("in/DATA.ZIP", InputKind::Archive),
            ("in/x.Tar.Gz", InputKind::Archive),
            ("in/a/b.tgz", InputKind::Archive),
            ("in/Export.CSV", InputKind::Data),
            ("in/a.csv", InputKind::Data),
            ("in/solar_ghi_20200101_00UT.txt", InputKind::Data),
            ("in/notes.xyz", InputKind::Unsupported),
            ("in/no-suffix", InputKind::Unsupported),
            ("in/zip/", InputKind::FolderMarker),
            ("in/", InputKind::FolderMarker),
        ] {
            assert_eq!(InputKind::of(key), kind, "{key}");
        }
    }

    #[test]
    fn the_reason_names_the_file_and_the_accepted_suffixes() {
        let reason = unsupported_reason("in/a/notes.xyz");
        assert!(reason.contains("\"notes.xyz\"") && reason.contains(".csv") && reason.contains(".zip"), "{reason}");
    }
}
