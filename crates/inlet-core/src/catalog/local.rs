//! The embedded catalog: one JSON document under the state directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Catalog, CatalogError, PartitionDefinition, TableDefinition, VersionedTable};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    /// database → table → entry
    databases: BTreeMap<String, BTreeMap<String, TableEntry>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TableEntry {
    table: TableDefinition,
    /// Bumped by every change of the definition, for optimistic locking.
    #[serde(default)]
    version: u64,
    #[serde(default)]
    partitions: Vec<PartitionDefinition>,
}

/// A catalog kept in `<state-dir>/catalog.json`.
///
/// Every change is made under an OS file lock (`catalog.json.lock`), read,
/// changed and written to a temporary file that is renamed over the old one.
/// So several processes can share the catalog, and a crash leaves the previous
/// catalog intact.
#[derive(Debug, Clone)]
pub struct LocalCatalog {
    path: PathBuf,
}

impl LocalCatalog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn storage_error(path: &Path, operation: &'static str, message: impl ToString, fix: &'static str) -> CatalogError {
        CatalogError::Storage { path: path.display().to_string(), operation, message: message.to_string(), fix }
    }

    fn load(path: &Path) -> Result<Document, CatalogError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Self::storage_error(
                    path,
                    "read",
                    e,
                    "restore it from a backup, or move it aside and run `inlet repair` to rebuild it from the output files",
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Document::default()),
            Err(e) => Err(Self::storage_error(path, "read", e, "check the state directory's permissions")),
        }
    }

    fn save(path: &Path, document: &Document) -> Result<(), CatalogError> {
        let fix = "check the state directory's permissions and free space";
        let bytes = serde_json::to_vec_pretty(document).map_err(|e| Self::storage_error(path, "written", e, fix))?;
        let staged = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&staged, bytes).map_err(|e| Self::storage_error(path, "written", e, fix))?;
        std::fs::rename(&staged, path).map_err(|e| Self::storage_error(path, "written", e, fix))
    }

    /// Reads the catalog (no lock: writes are atomic renames).
    async fn read(&self) -> Result<Document, CatalogError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Self::load(&path)).await.map_err(|e| Self::storage_error(&self.path, "read", e, "retry"))?
    }

    /// Runs `change` on the catalog under the lock, and saves the document
    /// when `change` says it changed something.
    async fn transact<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Document) -> Result<(T, bool), CatalogError> + Send + 'static,
    ) -> Result<T, CatalogError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let fix = "check the state directory's permissions";
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Self::storage_error(&path, "locked", e, fix))?;
            }
            let lock_path = path.with_extension("json.lock");
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| Self::storage_error(&path, "locked", e, fix))?;
            lock.lock().map_err(|e| Self::storage_error(&path, "locked", e, fix))?;
            let mut document = Self::load(&path)?;
            let (result, changed) = change(&mut document)?;
            if changed {
                Self::save(&path, &document)?;
            }
            Ok(result)
        })
        .await
        .map_err(|e| Self::storage_error(&self.path, "written", e, "retry"))?
    }
}

#[async_trait]
impl Catalog for LocalCatalog {
    async fn get_table(&self, database: &str, table: &str) -> Result<Option<VersionedTable>, CatalogError> {
        let document = self.read().await?;
        Ok(document
            .databases
            .get(database)
            .and_then(|tables| tables.get(table))
            .map(|entry| VersionedTable { table: entry.table.clone(), version: Some(entry.version.to_string()) }))
    }

    async fn put_table(&self, table: &TableDefinition, expected_version: Option<&str>) -> Result<(), CatalogError> {
        let (table, expected) = (table.clone(), expected_version.map(str::to_owned));
        self.transact(move |document| {
            let conflict = || CatalogError::Conflict { database: table.database.clone(), table: table.name.clone() };
            let tables = document.databases.entry(table.database.clone()).or_default();
            match (tables.get_mut(&table.name), expected) {
                (Some(entry), Some(expected)) if entry.version.to_string() == expected => {
                    entry.table = table;
                    entry.version += 1;
                }
                (None, None) => {
                    tables.insert(table.name.clone(), TableEntry { table, version: 1, partitions: Vec::new() });
                }
                _ => return Err(conflict()),
            }
            Ok(((), true))
        })
        .await
    }

    async fn add_partitions(&self, database: &str, table: &str, partitions: &[PartitionDefinition]) -> Result<usize, CatalogError> {
        let (database, table, partitions) = (database.to_owned(), table.to_owned(), partitions.to_vec());
        self.transact(move |document| {
            let entry = document
                .databases
                .get_mut(&database)
                .and_then(|tables| tables.get_mut(&table))
                .ok_or_else(|| CatalogError::TableNotFound { database: database.clone(), table: table.clone() })?;
            let mut added = 0;
            for partition in partitions {
                if !entry.partitions.iter().any(|p| p.values == partition.values) {
                    entry.partitions.push(partition);
                    added += 1;
                }
            }
            entry.partitions.sort();
            Ok((added, added > 0))
        })
        .await
    }

    async fn list_tables(&self, database: &str) -> Result<Vec<TableDefinition>, CatalogError> {
        let document = self.read().await?;
        Ok(document.databases.get(database).map(|tables| tables.values().map(|e| e.table.clone()).collect()).unwrap_or_default())
    }

    async fn list_partitions(&self, database: &str, table: &str) -> Result<Vec<PartitionDefinition>, CatalogError> {
        let document = self.read().await?;
        document
            .databases
            .get(database)
            .and_then(|tables| tables.get(table))
            .map(|entry| entry.partitions.clone())
            .ok_or_else(|| CatalogError::TableNotFound { database: database.into(), table: table.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CatalogColumn, register};

    #[tokio::test]
    async fn tables_and_partitions_persist_and_partitions_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.json");
        let catalog = LocalCatalog::new(&path);
        let table = TableDefinition {
            database: "inlet".into(),
            name: "t".into(),
            columns: vec![CatalogColumn {
                name: "time".into(),
                data_type: "timestamp".into(),
                comment: None,
                parameters: Default::default(),
            }],
            partition_keys: vec![CatalogColumn {
                name: "year".into(),
                data_type: "string".into(),
                comment: None,
                parameters: Default::default(),
            }],
            location: "s3://output/t/".into(),
            parameters: Default::default(),
        };
        let p2020 = PartitionDefinition { values: vec!["2020".into()], location: "s3://output/t/year=2020/".into() };
        assert_eq!(register(&catalog, &table, std::slice::from_ref(&p2020)).await.unwrap(), 1);
        assert_eq!(register(&catalog, &table, std::slice::from_ref(&p2020)).await.unwrap(), 0);

        let reopened = LocalCatalog::new(&path);
        assert_eq!(reopened.get_table("inlet", "t").await.unwrap().unwrap().table, table);
        assert_eq!(reopened.list_partitions("inlet", "t").await.unwrap(), vec![p2020]);
        assert!(reopened.get_table("inlet", "missing").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_corrupt_catalog_says_how_to_recover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = LocalCatalog::new(&path).list_tables("inlet").await.unwrap_err().to_string();
        assert!(err.contains("catalog.json cannot be read"), "{err}");
        assert!(err.contains("inlet repair"), "{err}");
    }
}
