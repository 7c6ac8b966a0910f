//! The embedded catalog: one JSON document under the state directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{Catalog, CatalogError, PartitionDefinition, TableDefinition};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    /// database → table → entry
    databases: BTreeMap<String, BTreeMap<String, TableEntry>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TableEntry {
    table: TableDefinition,
    #[serde(default)]
    partitions: Vec<PartitionDefinition>,
}

/// A catalog kept in `<state-dir>/catalog.json`.
///
/// Every change is written to a temporary file and renamed over the old one,
/// so a crash leaves the previous catalog intact. One process writes at a time.
#[derive(Debug)]
pub struct LocalCatalog {
    path: PathBuf,
    lock: Mutex<()>,
}

impl LocalCatalog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), lock: Mutex::new(()) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn storage_error(&self, operation: &'static str, message: impl ToString, fix: &'static str) -> CatalogError {
        CatalogError::Storage { path: self.path.display().to_string(), operation, message: message.to_string(), fix }
    }

    async fn load(&self) -> Result<Document, CatalogError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                self.storage_error(
                    "read",
                    e,
                    "restore it from a backup, or move it aside and run `inlet repair` to rebuild it from the output files",
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Document::default()),
            Err(e) => Err(self.storage_error("read", e, "check the state directory's permissions")),
        }
    }

    async fn save(&self, document: &Document) -> Result<(), CatalogError> {
        let fix = "check the state directory's permissions and free space";
        if let Some(parent) = self.path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| self.storage_error("written", e, fix))?;
        }
        let bytes = serde_json::to_vec_pretty(document).map_err(|e| self.storage_error("written", e, fix))?;
        let staged = self.path.with_extension(format!("json.{}.tmp", std::process::id()));
        tokio::fs::write(&staged, bytes).await.map_err(|e| self.storage_error("written", e, fix))?;
        tokio::fs::rename(&staged, &self.path).await.map_err(|e| self.storage_error("written", e, fix))
    }
}

#[async_trait]
impl Catalog for LocalCatalog {
    async fn get_table(&self, database: &str, table: &str) -> Result<Option<TableDefinition>, CatalogError> {
        let document = self.load().await?;
        Ok(document.databases.get(database).and_then(|tables| tables.get(table)).map(|entry| entry.table.clone()))
    }

    async fn put_table(&self, table: &TableDefinition) -> Result<(), CatalogError> {
        let _guard = self.lock.lock().await;
        let mut document = self.load().await?;
        let tables = document.databases.entry(table.database.clone()).or_default();
        match tables.get_mut(&table.name) {
            Some(entry) => entry.table = table.clone(),
            None => {
                tables.insert(table.name.clone(), TableEntry { table: table.clone(), partitions: Vec::new() });
            }
        }
        self.save(&document).await
    }

    async fn add_partitions(&self, database: &str, table: &str, partitions: &[PartitionDefinition]) -> Result<usize, CatalogError> {
        let _guard = self.lock.lock().await;
        let mut document = self.load().await?;
        let entry = document
            .databases
            .get_mut(database)
            .and_then(|tables| tables.get_mut(table))
            .ok_or_else(|| CatalogError::TableNotFound { database: database.into(), table: table.into() })?;
        let mut added = 0;
        for partition in partitions {
            if !entry.partitions.iter().any(|p| p.values == partition.values) {
                entry.partitions.push(partition.clone());
                added += 1;
            }
        }
        if added > 0 {
            entry.partitions.sort();
            self.save(&document).await?;
        }
        Ok(added)
    }

    async fn list_tables(&self, database: &str) -> Result<Vec<TableDefinition>, CatalogError> {
        let document = self.load().await?;
        Ok(document.databases.get(database).map(|tables| tables.values().map(|e| e.table.clone()).collect()).unwrap_or_default())
    }

    async fn list_partitions(&self, database: &str, table: &str) -> Result<Vec<PartitionDefinition>, CatalogError> {
        let document = self.load().await?;
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
        assert_eq!(reopened.get_table("inlet", "t").await.unwrap().unwrap(), table);
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
