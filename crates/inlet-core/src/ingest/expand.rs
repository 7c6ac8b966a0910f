//! Expanding one archive into `in/<archive-stem>/…`, so each member is
//! processed as if it had been dropped itself.
//!
//! An archive dropped again replaces its previous version as a whole. Its
//! manifest lists the members and their content hashes: a member that is gone
//! has its outputs removed, and a member unchanged since it was loaded is not
//! written again.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{EngineConfig, Input, Lifecycle, Origin, Outcome, Problem, Stage, Taken, Work};
use crate::archive::{self, ArchiveError, ArchiveKind, Expansion};
use crate::layout;
use crate::storage::{ObjectLocation, ObjectStore};

/// Which members one archive held.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ArchiveManifest {
    source: String,
    /// Member key in the input bucket (`in/<stem>/<path>`) → its SHA-256.
    members: BTreeMap<String, String>,
    /// What the expansion that wrote this manifest reported, so that a front
    /// end that left the work to the deployed functions can show it and
    /// follow the members (`ingest --wait`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expanded: Option<Outcome>,
}

/// The last expansion an archive manifest records; `None` when it is not
/// readable or was written by a version that kept no record.
#[cfg(feature = "engine")]
pub(crate) fn recorded_expansion(manifest: &[u8]) -> Option<Outcome> {
    serde_json::from_slice::<ArchiveManifest>(manifest).ok()?.expanded
}

/// The input lifecycle for archives alone: what the unzip function runs. It
/// holds no pipeline, so it expands whatever archive it is given; the entry
/// point (the [`super::Engine`]) decides which archives come here.
#[derive(Debug, Clone)]
pub struct Expander {
    lifecycle: Lifecycle,
}

impl Expander {
    pub fn new(store: Arc<dyn ObjectStore>, config: EngineConfig) -> Self {
        Self { lifecycle: Lifecycle { store, config } }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.lifecycle.config
    }

    /// Removes the scratch folders of runs that died (killed, timed out),
    /// leaving those of live runs alone.
    pub fn sweep_scratch(&self) -> std::io::Result<Vec<PathBuf>> {
        self.lifecycle.sweep_scratch()
    }

    /// Expands the archive at `key` in the input bucket into its members
    /// beside it, and moves it to `done/` (or `failed/`, with the reason).
    pub async fn process(&self, key: &str) -> Outcome {
        self.lifecycle.process(key, self).await
    }
}

impl Work for Expander {
    async fn take(&self, input: &Input<'_>) -> Taken {
        Taken::unrouted(self.lifecycle.expand(input).await)
    }
}

impl Lifecycle {
    pub(super) async fn expand(&self, input: &Input<'_>) -> Result<Outcome, Problem> {
        let (source, version) = (input.source, input.version);
        let (kind, stem) = ArchiveKind::detect(source.file_name())
            .ok_or_else(|| Problem::new(Stage::Archive, format!("{} is not an archive inlet can expand", source.key)))?;
        let scratch = self.scratch(Stage::Fetch)?;
        let spool = scratch.path().join("archive");
        self.download(source, &spool).await?;
        let expansion = self.expand_spooled(source, kind, &spool, scratch.path()).await?;

        let folder = member_folder(&source.key, stem);
        let manifest_location =
            ObjectLocation::new(&self.config.output_bucket, layout::archive_manifest_key(&layout::source_id(&source.bucket, &source.key)));
        let previous: ArchiveManifest = self.read_document(&manifest_location).await?.unwrap_or_default();
        let current = hash_members(&expansion, &folder).await?;

        let (written, unchanged) = self.write_members(input, &expansion, &folder, &current, &previous).await?;
        let mut removed = Vec::new();
        for gone in previous.members.keys().filter(|key| !current.contains_key(*key)) {
            self.remove_source_outputs(gone).await.map_err(|p| p.at_member(gone))?;
            removed.push(gone.clone());
        }
        let identity = super::identity_of(source).to_string();
        let done_key = layout::lifecycle_key(&source.key, layout::DONE);
        let outcome =
            Outcome::Expanded { source: identity.clone(), done_key, members: written, unchanged, removed, skipped: expansion.skipped };
        let manifest = ArchiveManifest { source: identity, members: current, expanded: Some(outcome.clone()) };
        self.write_document(&manifest_location, &manifest).await?;

        let Outcome::Expanded { done_key, .. } = &outcome else { unreachable!("built above") };
        self.finish(source, version, done_key).await?;
        Ok(outcome)
    }

    async fn expand_spooled(&self, source: &ObjectLocation, kind: ArchiveKind, spool: &Path, workdir: &Path) -> Result<Expansion, Problem> {
        let limits = self.config.archive_limits;
        let (name, spool, workdir) = (source.key.clone(), spool.to_owned(), workdir.to_owned());
        tokio::task::spawn_blocking(move || archive::expand(kind, &name, &spool, &workdir, limits))
            .await
            .map_err(|e| Problem::new(Stage::Archive, format!("the expansion task stopped: {e}")))?
            .map_err(archive_problem)
    }

    /// Uploads the members that changed since the archive's last version was
    /// loaded. Returns the keys written and the keys left as they were.
    async fn write_members(
        &self,
        input: &Input<'_>,
        expansion: &Expansion,
        folder: &str,
        current: &BTreeMap<String, String>,
        previous: &ArchiveManifest,
    ) -> Result<(Vec<String>, Vec<String>), Problem> {
        let (mut written, mut unchanged) = (Vec::new(), Vec::new());
        for member in &expansion.members {
            let key = format!("{folder}{}", member.path);
            let hash = &current[&layout::identity_key(&key)];
            let same_as_before = previous.members.get(&layout::identity_key(&key)) == Some(hash);
            if same_as_before && self.loaded_version(&key).await?.as_ref() == Some(hash) {
                unchanged.push(key);
                continue;
            }
            let source = input.source;
            // Before the member: its upload may start its processing at once.
            self.record_origin(input, &key).await?;
            if let Err(e) = self.store.put_scratch_file(&source.with_key(&key), &member.file).await {
                // Half an archive is worse than none: take back what was written.
                for key in &written {
                    if let Err(undo) = self.store.delete(&source.with_key(key)).await {
                        tracing::warn!(key = %key, error = %undo, "could not take back a member; the archive's retry writes it again");
                    }
                }
                return Err(Problem::classified(Stage::Write, e).at_member(&member.path));
            }
            written.push(key);
        }
        Ok((written, unchanged))
    }

    /// Records that the member at `key` comes from this archive, so its
    /// processing carries the archive's correlation id.
    async fn record_origin(&self, archive: &Input<'_>, key: &str) -> Result<(), Problem> {
        let origin = Origin { correlation_id: archive.correlation_id.to_owned(), archive: super::identity_of(archive.source).to_string() };
        let location = ObjectLocation::new(&self.config.output_bucket, layout::origin_key(&layout::source_id(&archive.source.bucket, key)));
        self.write_document(&location, &origin).await
    }

    /// Copies the object to a local file, for archive formats that need to seek.
    async fn download(&self, source: &ObjectLocation, path: &Path) -> Result<(), Problem> {
        let (_, mut body) = self.store.get(source).await.map_err(|e| Problem::classified(Stage::Fetch, e))?;
        let mut file = tokio::fs::File::create(path).await.map_err(|e| Problem {
            class: crate::error::ErrorClass::of_io(&e),
            ..Problem::new(Stage::Fetch, format!("cannot spool {source}: {e}"))
        })?;
        // A body that breaks off is the network's fault, not the archive's.
        tokio::io::copy(&mut body, &mut file)
            .await
            .map_err(|e| Problem::transient(Stage::Fetch, format!("reading {source} failed: {e}")))?;
        file.flush().await.map_err(|e| Problem { class: crate::error::ErrorClass::of_io(&e), ..Problem::new(Stage::Fetch, e) })?;
        Ok(())
    }
}

/// Members go next to the archive: `in/dir/x.zip` → `in/dir/x/<member>`.
fn member_folder(archive_key: &str, stem: &str) -> String {
    match archive_key.rfind('/') {
        Some(i) => format!("{}{stem}/", &archive_key[..=i]),
        None => format!("{}{stem}/", layout::INBOX),
    }
}

/// Each member's identity key (`in/<stem>/<path>`, also when expanded under
/// `direct/`) and the SHA-256 of its content.
async fn hash_members(expansion: &Expansion, folder: &str) -> Result<BTreeMap<String, String>, Problem> {
    let members: Vec<(String, std::path::PathBuf)> =
        expansion.members.iter().map(|m| (layout::identity_key(&format!("{folder}{}", m.path)), m.file.clone())).collect();
    tokio::task::spawn_blocking(move || {
        members
            .into_iter()
            .map(|(key, file)| {
                let hash = sha256_of(&file).map_err(|e| Problem::new(Stage::Archive, format!("cannot read back {key}: {e}")))?;
                Ok((key, hash))
            })
            .collect()
    })
    .await
    .map_err(|e| Problem::new(Stage::Archive, format!("the hashing task stopped: {e}")))?
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

fn archive_problem(error: ArchiveError) -> Problem {
    let member = match &error {
        ArchiveError::UnsafePath { member, .. }
        | ArchiveError::Link { member }
        | ArchiveError::TooDeep { member, .. }
        | ArchiveError::TooLarge { member, .. } => Some(member.clone()),
        ArchiveError::Corrupt { member, .. } => member.clone(),
        _ => None,
    };
    Problem { member, ..Problem::new(Stage::Archive, error) }
}

/// The expander alone, as the unzip function runs it: these tests also run
/// without the `engine` feature, so they show the base holds the lifecycle.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::tests::zip_bytes;
    use crate::storage::LocalObjectStore;

    fn expander(root: &Path) -> (Expander, Arc<LocalObjectStore>) {
        let store = Arc::new(LocalObjectStore::new(root));
        let config = EngineConfig { scratch_dir: Some(root.join("scratch")), ..EngineConfig::default() };
        (Expander::new(store.clone(), config), store)
    }

    async fn keys(store: &LocalObjectStore, bucket: &str, prefix: &str) -> Vec<String> {
        store.list(bucket, prefix).await.unwrap().into_iter().map(|m| m.location.key).collect()
    }

    #[tokio::test]
    async fn an_archive_becomes_its_members_and_moves_to_done() {
        let dir = tempfile::tempdir().unwrap();
        let (expander, store) = expander(dir.path());
        let archive = ObjectLocation::new("input", "in/batch.zip");
        store.put_bytes(&archive, zip_bytes(&[("a.csv", b"x\n1\n"), ("sub/b.csv", b"x\n2\n")])).await.unwrap();

        let outcome = expander.process("in/batch.zip").await;

        let Outcome::Expanded { members, done_key, .. } = &outcome else { panic!("expanded: {outcome:?}") };
        assert_eq!(members, &["in/batch/a.csv", "in/batch/sub/b.csv"]);
        assert_eq!(done_key, "done/batch.zip");
        assert_eq!(keys(&store, "input", "in/").await, ["in/batch/a.csv", "in/batch/sub/b.csv"]);
        assert_eq!(keys(&store, "input", "done/").await, ["done/batch.zip"]);
        let member = store.get_bytes(&ObjectLocation::new("input", "in/batch/sub/b.csv")).await.unwrap();
        assert_eq!(member.as_deref(), Some(&b"x\n2\n"[..]));
        let origin = layout::origin_key(&layout::source_id("input", "in/batch/a.csv"));
        assert!(store.get_bytes(&ObjectLocation::new("output", origin)).await.unwrap().is_some(), "each member records its origin");
    }

    #[tokio::test]
    async fn a_broken_archive_is_filed_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (expander, store) = expander(dir.path());
        store.put_bytes(&ObjectLocation::new("input", "in/broken.zip"), b"not a zip".to_vec()).await.unwrap();

        let Outcome::Failed(failure) = expander.process("in/broken.zip").await else { panic!("a broken archive fails") };

        assert!(failure.filed);
        assert_eq!(failure.stage, Stage::Archive);
        assert_eq!(keys(&store, "input", "failed/").await, ["failed/broken.zip", "failed/broken.zip.error.json"]);
        assert!(keys(&store, "input", "in/").await.is_empty());
    }
}
