//! Expanding zip, tar, tar.gz and gz archives safely.
//!
//! Members are streamed one at a time into files under a work folder, with the
//! limits checked while bytes flow, so neither memory nor disk can be taken by
//! a hostile archive. Refused outright: entries that escape their folder
//! (zip-slip), links, archives nested more than one level deep, and expansion
//! beyond the ratio or total-size limits (zip bombs). `__MACOSX/` and `._*`
//! entries are resource-fork debris and are skipped.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// How far an archive may expand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArchiveLimits {
    /// Total bytes all members may expand to.
    pub max_total_bytes: u64,
    /// Expanded bytes per compressed byte, over the whole archive and per zip entry.
    pub max_ratio: u64,
    /// Members an archive may hold.
    pub max_entries: usize,
    /// How many archives deep members may be nested. 1: an archive inside the
    /// dropped archive is expanded; one inside that is refused.
    pub max_depth: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self { max_total_bytes: 4 << 30, max_ratio: 200, max_entries: 10_000, max_depth: 1 }
    }
}

/// The archive formats inlet expands, recognised by the key's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    Tar,
    TarGz,
    Gz,
}

impl ArchiveKind {
    /// The kind of `name`, with the name minus its archive suffix.
    pub fn detect(name: &str) -> Option<(ArchiveKind, &str)> {
        let lower = name.to_ascii_lowercase();
        for (suffix, kind) in [(".tar.gz", Self::TarGz), (".tgz", Self::TarGz), (".zip", Self::Zip), (".tar", Self::Tar), (".gz", Self::Gz)]
        {
            if lower.ends_with(suffix) && lower.len() > suffix.len() {
                return Some((kind, &name[..name.len() - suffix.len()]));
            }
        }
        None
    }
}

/// One expanded member, waiting in the work folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's path inside the archive (nested archives: `inner/member`),
    /// always relative and `/`-separated.
    pub path: String,
    pub file: PathBuf,
    pub size: u64,
}

#[derive(Debug, Default)]
pub struct Expansion {
    pub members: Vec<Member>,
    /// Entries skipped as macOS debris or folders.
    pub skipped: Vec<String>,
    pub expanded_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("member {member:?} escapes the archive's folder ({why}); the archive is refused as a whole")]
    UnsafePath { member: String, why: &'static str },

    #[error("member {member:?} is a link; links are refused because they can point outside the archive")]
    Link { member: String },

    #[error("member {member:?} is an archive nested {depth} levels deep; at most {max} level is expanded — flatten the archive")]
    TooDeep { member: String, depth: usize, max: usize },

    #[error(
        "expanding stopped at member {member:?}: {what} would exceed the limit of {limit}; this looks like a decompression bomb — split the archive, or raise the limit if it is genuine"
    )]
    TooLarge { member: String, what: &'static str, limit: String },

    #[error("the archive holds more than {max} entries; split it")]
    TooManyEntries { max: usize },

    #[error("the archive is unreadable{}: {message}", member.as_ref().map(|m| format!(" at member {m:?}")).unwrap_or_default())]
    Corrupt { member: Option<String>, message: String },

    #[error("the work folder failed: {0}")]
    Io(#[from] io::Error),
}

/// Whether an entry is resource-fork or Finder debris rather than data.
pub fn is_junk(path: &str) -> bool {
    path.split('/').any(|segment| segment == "__MACOSX" || segment.starts_with("._") || segment == ".DS_Store")
}

/// A member path made safe: relative, `/`-separated, with no `..`.
fn safe_member_path(raw: &str) -> Result<String, ArchiveError> {
    let unsafe_path = |why| ArchiveError::UnsafePath { member: raw.to_owned(), why };
    let normalized = raw.replace('\\', "/");
    if normalized.starts_with('/') || Path::new(&normalized).is_absolute() || normalized.get(1..2) == Some(":") {
        return Err(unsafe_path("it is an absolute path"));
    }
    let mut parts = Vec::new();
    for component in Path::new(&normalized).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_path("it has a '..' segment")),
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_path("it is an absolute path")),
        }
    }
    if parts.is_empty() {
        return Err(unsafe_path("it has no name"));
    }
    Ok(parts.join("/"))
}

/// Tracks the limits across a whole expansion, nested archives included.
struct Budget {
    limits: ArchiveLimits,
    compressed_size: u64,
    expanded: u64,
    entries: usize,
}

impl Budget {
    fn allowed_total(&self) -> u64 {
        let by_ratio = self.compressed_size.max(1).saturating_mul(self.limits.max_ratio);
        // Small archives of very compressible text are normal; the ratio only
        // bites once the output is past a mebibyte.
        self.limits.max_total_bytes.min(by_ratio.max(1 << 20))
    }

    fn too_large(&self, member: &str) -> ArchiveError {
        let by_ratio = self.compressed_size.max(1).saturating_mul(self.limits.max_ratio).max(1 << 20);
        let (what, limit) = if by_ratio < self.limits.max_total_bytes {
            ("the expansion ratio", format!("{}x the archive's {} bytes", self.limits.max_ratio, self.compressed_size))
        } else {
            ("the expanded size", format!("{} bytes", self.limits.max_total_bytes))
        };
        ArchiveError::TooLarge { member: member.to_owned(), what, limit }
    }

    fn count_entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ArchiveError::TooManyEntries { max: self.limits.max_entries });
        }
        Ok(())
    }

    /// Copies a member into `file`, failing as soon as the budget is spent.
    fn copy(&mut self, member: &str, reader: &mut dyn Read, file: &Path) -> Result<u64, ArchiveError> {
        let mut out = io::BufWriter::new(File::create(file)?);
        let mut buffer = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ArchiveError::Corrupt { member: Some(member.to_owned()), message: e.to_string() }),
            };
            self.expanded += n as u64;
            if self.expanded > self.allowed_total() {
                drop(out);
                // The scratch folder goes as a whole afterwards; this only frees space sooner.
                let _ = std::fs::remove_file(file);
                return Err(self.too_large(member));
            }
            io::Write::write_all(&mut out, &buffer[..n])?;
            written += n as u64;
        }
        io::Write::flush(&mut out)?;
        Ok(written)
    }
}

/// Expands the archive in `source` (of `kind`, named `name`) into `workdir`.
pub fn expand(kind: ArchiveKind, name: &str, source: &Path, workdir: &Path, limits: ArchiveLimits) -> Result<Expansion, ArchiveError> {
    let compressed_size = std::fs::metadata(source)?.len();
    let mut budget = Budget { limits, compressed_size, expanded: 0, entries: 0 };
    let mut expansion = Expansion::default();
    expand_into(kind, name, source, workdir, "", 0, &mut budget, &mut expansion)?;
    expansion.expanded_bytes = budget.expanded;
    Ok(expansion)
}

#[allow(clippy::too_many_arguments)]
fn expand_into(
    kind: ArchiveKind,
    name: &str,
    source: &Path,
    workdir: &Path,
    prefix: &str,
    depth: usize,
    budget: &mut Budget,
    out: &mut Expansion,
) -> Result<(), ArchiveError> {
    let mut on_member =
        |path: String, reader: &mut dyn Read, declared: Option<(u64, u64)>, budget: &mut Budget| -> Result<(), ArchiveError> {
            budget.count_entry()?;
            let full = format!("{prefix}{path}");
            if is_junk(&path) {
                out.skipped.push(full);
                return Ok(());
            }
            // A zip entry announces its sizes; refuse an obvious bomb before reading it.
            if let Some((size, compressed)) = declared
                && (size > budget.limits.max_total_bytes || (size > 1 << 20 && size / compressed.max(1) > budget.limits.max_ratio))
            {
                return Err(budget.too_large(&full));
            }
            let file = workdir.join(format!("member-{}", out.members.len() + out.skipped.len() + budget.entries));
            let size = budget.copy(&full, reader, &file)?;
            if let Some((inner_kind, stem)) = ArchiveKind::detect(&path) {
                if depth + 1 > budget.limits.max_depth {
                    return Err(ArchiveError::TooDeep { member: full, depth: depth + 1, max: budget.limits.max_depth });
                }
                let inner_prefix = format!("{prefix}{stem}/");
                let result = expand_into(inner_kind, &path, &file, workdir, &inner_prefix, depth + 1, budget, out);
                // The scratch folder goes as a whole afterwards; this only frees space sooner.
                let _ = std::fs::remove_file(&file);
                return result;
            }
            out.members.push(Member { path: full, file, size });
            Ok(())
        };

    let corrupt = |e: &dyn std::fmt::Display| ArchiveError::Corrupt { member: None, message: e.to_string() };
    match kind {
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::new(File::open(source)?)).map_err(|e| corrupt(&e))?;
            if zip.len() > budget.limits.max_entries {
                return Err(ArchiveError::TooManyEntries { max: budget.limits.max_entries });
            }
            for index in 0..zip.len() {
                let mut entry = zip.by_index(index).map_err(|e| corrupt(&e))?;
                let raw = entry.name().map_err(|e| corrupt(&e))?.into_owned();
                if entry.is_dir() {
                    continue;
                }
                if entry.is_symlink() {
                    return Err(ArchiveError::Link { member: format!("{prefix}{raw}") });
                }
                let path = safe_member_path(&raw)?;
                let declared = Some((entry.size(), entry.compressed_size()));
                on_member(path, &mut entry, declared, budget)?;
            }
        }
        ArchiveKind::Tar | ArchiveKind::TarGz => {
            let file = BufReader::new(File::open(source)?);
            let reader: Box<dyn Read> = if kind == ArchiveKind::TarGz { Box::new(MultiGzDecoder::new(file)) } else { Box::new(file) };
            let mut tar = tar::Archive::new(reader);
            for entry in tar.entries().map_err(|e| corrupt(&e))? {
                let mut entry = entry.map_err(|e| corrupt(&e))?;
                let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let entry_type = entry.header().entry_type();
                if entry_type.is_dir()
                    || entry_type.is_pax_global_extensions()
                    || entry_type.is_pax_local_extensions()
                    || entry_type.is_gnu_longname()
                {
                    continue;
                }
                if entry_type.is_symlink() || entry_type.is_hard_link() {
                    return Err(ArchiveError::Link { member: format!("{prefix}{raw}") });
                }
                if !entry_type.is_file() {
                    // Device nodes, FIFOs and the like carry no data.
                    continue;
                }
                let path = safe_member_path(&raw)?;
                on_member(path, &mut entry, None, budget)?;
            }
        }
        ArchiveKind::Gz => {
            let file_name = name.rsplit('/').next().unwrap_or(name);
            let (_, stem) = ArchiveKind::detect(file_name).expect("a .gz name");
            let mut decoder = MultiGzDecoder::new(BufReader::new(File::open(source)?));
            on_member(safe_member_path(stem)?, &mut decoder, None, budget)?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
