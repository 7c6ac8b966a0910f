//! `inlet explain`: where files would go, from their names alone, before any
//! is dropped: the pipeline, table, location and partition, or why none.

use std::process::ExitCode;

use inlet_contract::prefixes::INBOX;
use inlet_contract::suffixes::{InputKind, unsupported_reason};
use inlet_core::pipeline::{PartitionSource, PipelineSet, Route};

use crate::state::StateOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// File names or keys. A name without the in/ prefix is taken as
    /// dropped into in/, as `inlet ingest` and the input bucket name it.
    #[arg(required = true, value_name = "KEY")]
    keys: Vec<String>,
}

/// Exits non-zero when any key would end in failed/.
pub async fn run(options: &StateOptions, args: Args) -> anyhow::Result<ExitCode> {
    let (set, source) = options.load_pipelines()?;
    println!("pipelines from {source}");
    let mut refused = 0;
    for given in &args.keys {
        let key = if given.starts_with(INBOX) { given.clone() } else { format!("{INBOX}{given}") };
        println!("{key}");
        match explain(&set, &key) {
            Ok(lines) => lines.iter().for_each(|line| println!("  {line}")),
            Err(reason) => {
                refused += 1;
                println!("  goes to failed/: {reason}");
            }
        }
    }
    Ok(if refused == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What happens to `key`, as lines to print, or why it would fail.
fn explain(set: &PipelineSet, key: &str) -> Result<Vec<String>, String> {
    match InputKind::of(key) {
        InputKind::FolderMarker => Ok(vec!["a folder marker: nothing to do".into()]),
        InputKind::Unsupported => Err(unsupported_reason(key)),
        InputKind::Archive if !set.claims(key) => Ok(vec!["an archive: it is expanded, and each member is routed by its own name".into()]),
        InputKind::Archive | InputKind::Data => set.route(key).map(|route| describe(&route)).map_err(|e| e.to_string()),
    }
}

fn describe(route: &Route) -> Vec<String> {
    let pipeline = &route.pipeline;
    let mut lines = vec![
        format!("pipeline   {} ({})", pipeline.name, pipeline.source_file),
        format!("table      {}", route.table),
        format!("location   {}", route.location.as_deref().unwrap_or("-")),
        format!("partition  {}", partition(route)),
    ];
    lines.extend(route.captures.iter().map(|(name, value)| format!("captured   {name} = {value}")));
    lines
}

/// The partition path, with what the name fixes filled in and what the rows
/// decide named.
fn partition(route: &Route) -> String {
    let pipeline = &route.pipeline;
    let from_rows = |part: &str| format!("<{part} of each row's {}>", pipeline.time_column);
    let parts = pipeline.partition_by.iter().map(|(key, source)| {
        let value = match source {
            PartitionSource::Location => route.location.clone().unwrap_or_else(|| "-".into()),
            PartitionSource::Year => from_rows("year"),
            PartitionSource::Month => from_rows("month"),
            PartitionSource::Day => from_rows("day"),
            PartitionSource::Hour => from_rows("hour"),
            PartitionSource::Column(column) => route
                .captures
                .iter()
                .find(|(name, _)| name == column)
                .map(|(_, value)| value.clone())
                .unwrap_or_else(|| format!("<each row's {column}>")),
        };
        format!("{key}={value}")
    });
    parts.collect::<Vec<_>>().join("/")
}
