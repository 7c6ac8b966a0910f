//! [`Catalog`] over the AWS Glue Data Catalog.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_glue::Client;
use aws_sdk_glue::config::http::HttpResponse;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{Column, PartitionInput, SerDeInfo, StorageDescriptor, Table, TableInput};
use inlet_core::catalog::{
    Catalog, CatalogColumn, CatalogError, PARTITIONS_PER_CALL, PartitionDefinition, TableDefinition, VersionedTable,
};
use inlet_core::error::ErrorClass;

use crate::errors::class_of;

const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: Client,
}

impl GlueCatalog {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// A catalog error that keeps the SDK error as its source, classified.
fn backend<E>(operation: &'static str, target: impl Into<String>, error: SdkError<E, HttpResponse>) -> CatalogError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let class = class_of(&error);
    CatalogError::backend(operation, target, class, error)
}

/// A request that could not even be built: a bug, never worth a retry.
fn invalid_request(
    operation: &'static str,
    target: impl Into<String>,
    error: impl std::error::Error + Send + Sync + 'static,
) -> CatalogError {
    CatalogError::backend(operation, target, ErrorClass::Permanent, error)
}

fn glue_column(column: &CatalogColumn) -> Result<Column, CatalogError> {
    let parameters: HashMap<String, String> = column.parameters.clone().into_iter().collect();
    Column::builder()
        .name(&column.name)
        .r#type(&column.data_type)
        .set_comment(column.comment.clone())
        .set_parameters((!parameters.is_empty()).then_some(parameters))
        .build()
        .map_err(|e| invalid_request("build column", column.name.clone(), e))
}

/// The storage descriptor of a Parquet location; partitions repeat the table's
/// columns so their schema stays in line with it.
fn storage_descriptor(columns: &[CatalogColumn], location: &str) -> Result<StorageDescriptor, CatalogError> {
    let columns = columns.iter().map(glue_column).collect::<Result<Vec<_>, _>>()?;
    Ok(StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(location)
        .input_format(INPUT_FORMAT)
        .output_format(OUTPUT_FORMAT)
        .serde_info(SerDeInfo::builder().serialization_library(SERDE).parameters("serialization.format", "1").build())
        .build())
}

fn catalog_column(column: &Column) -> CatalogColumn {
    CatalogColumn {
        name: column.name().to_owned(),
        data_type: column.r#type().unwrap_or("string").to_owned(),
        comment: column.comment().map(str::to_owned),
        parameters: column.parameters().map(|p| p.clone().into_iter().collect()).unwrap_or_default(),
    }
}

fn table_definition(database: &str, table: &Table) -> TableDefinition {
    let descriptor = table.storage_descriptor();
    TableDefinition {
        database: database.to_owned(),
        name: table.name().to_owned(),
        columns: descriptor.map(|d| d.columns().iter().map(catalog_column).collect()).unwrap_or_default(),
        partition_keys: table.partition_keys().iter().map(catalog_column).collect(),
        location: descriptor.and_then(|d| d.location()).unwrap_or_default().to_owned(),
        parameters: table.parameters().map(|p| p.clone().into_iter().collect::<BTreeMap<_, _>>()).unwrap_or_default(),
    }
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn get_table(&self, database: &str, table: &str) -> Result<Option<VersionedTable>, CatalogError> {
        match self.client.get_table().database_name(database).name(table).send().await {
            Ok(output) => Ok(output
                .table()
                .map(|t| VersionedTable { table: table_definition(database, t), version: t.version_id().map(str::to_owned) })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_not_found_exception()) => Ok(None),
            Err(e) => Err(backend("GetTable", format!("{database}.{table}"), e)),
        }
    }

    async fn put_table(&self, table: &TableDefinition, expected_version: Option<&str>) -> Result<(), CatalogError> {
        let partition_keys = table.partition_keys.iter().map(glue_column).collect::<Result<Vec<_>, _>>()?;
        let input = TableInput::builder()
            .name(&table.name)
            .table_type("EXTERNAL_TABLE")
            .set_parameters(Some(table.parameters.clone().into_iter().collect()))
            .set_partition_keys(Some(partition_keys))
            .storage_descriptor(storage_descriptor(&table.columns, &table.location)?)
            .build()
            .map_err(|e| invalid_request("build table", table.name.clone(), e))?;
        let target = format!("{}.{}", table.database, table.name);
        let conflict = || CatalogError::Conflict { database: table.database.clone(), table: table.name.clone() };
        let Some(version) = expected_version else {
            return match self.client.create_table().database_name(&table.database).table_input(input).send().await {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) => Err(conflict()),
                Err(e) => Err(backend("CreateTable", target, e)),
            };
        };
        // Glue's optimistic lock: the update applies only to the version read.
        match self.client.update_table().database_name(&table.database).table_input(input).version_id(version).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_concurrent_modification_exception()) => Err(conflict()),
            Err(e) => Err(backend("UpdateTable", target, e)),
        }
    }

    async fn add_partitions(&self, database: &str, table: &str, partitions: &[PartitionDefinition]) -> Result<usize, CatalogError> {
        let definition = self
            .get_table(database, table)
            .await?
            .ok_or_else(|| CatalogError::TableNotFound { database: database.into(), table: table.into() })?
            .table;
        let mut added = 0;
        for chunk in partitions.chunks(PARTITIONS_PER_CALL) {
            let inputs = chunk
                .iter()
                .map(|p| {
                    Ok(PartitionInput::builder()
                        .set_values(Some(p.values.clone()))
                        .storage_descriptor(storage_descriptor(&definition.columns, &p.location)?)
                        .build())
                })
                .collect::<Result<Vec<_>, CatalogError>>()?;
            let output = self
                .client
                .batch_create_partition()
                .database_name(database)
                .table_name(table)
                .set_partition_input_list(Some(inputs))
                .send()
                .await
                .map_err(|e| backend("BatchCreatePartition", format!("{database}.{table}"), e))?;
            let mut already = 0;
            for error in output.errors() {
                let detail = error.error_detail();
                let code = detail.and_then(|d| d.error_code()).unwrap_or("unknown");
                // Registering twice is the normal case with duplicate deliveries.
                if code == "AlreadyExistsException" {
                    already += 1;
                    continue;
                }
                let message = format!("{code}: {}", detail.and_then(|d| d.error_message()).unwrap_or(""));
                return Err(CatalogError::backend(
                    "BatchCreatePartition",
                    format!("{database}.{table} {:?}", error.partition_values()),
                    ErrorClass::of_response(Some(code), None),
                    message,
                ));
            }
            added += chunk.len() - already;
        }
        Ok(added)
    }

    async fn list_tables(&self, database: &str) -> Result<Vec<TableDefinition>, CatalogError> {
        let mut pages = self.client.get_tables().database_name(database).into_paginator().send();
        let mut tables = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| backend("GetTables", database, e))?;
            tables.extend(page.table_list().iter().map(|t| table_definition(database, t)));
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tables)
    }

    async fn list_partitions(&self, database: &str, table: &str) -> Result<Vec<PartitionDefinition>, CatalogError> {
        let mut pages = self.client.get_partitions().database_name(database).table_name(table).into_paginator().send();
        let mut partitions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                if e.as_service_error().and_then(|s| s.code()) == Some("EntityNotFoundException") {
                    CatalogError::TableNotFound { database: database.into(), table: table.into() }
                } else {
                    backend("GetPartitions", format!("{database}.{table}"), e)
                }
            })?;
            partitions.extend(page.partitions().iter().map(|p| PartitionDefinition {
                values: p.values().to_vec(),
                location: p.storage_descriptor().and_then(|d| d.location()).unwrap_or_default().to_owned(),
            }));
        }
        partitions.sort();
        Ok(partitions)
    }
}
