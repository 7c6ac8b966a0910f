//! `inlet failed`: failed inputs and why.

use std::process::ExitCode;

use inlet_core::storage::{ObjectLocation, ObjectStore};
use inlet_core::{Failure, layout};
use tokio::io::AsyncReadExt;

use crate::state::State;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the error documents as JSON lines.
    #[arg(long)]
    json: bool,
}

/// Every failed input's key with its error document (when it can be read).
pub async fn failed_inputs(store: &dyn ObjectStore, bucket: &str) -> anyhow::Result<Vec<(String, Option<Failure>)>> {
    let mut found = Vec::new();
    for meta in store.list(bucket, layout::FAILED).await? {
        let key = meta.location.key;
        if key.ends_with(".error.json") {
            continue;
        }
        let document = ObjectLocation::new(bucket, layout::error_document_key(&key));
        let failure = match store.get(&document).await {
            Ok((_, mut body)) => {
                let mut bytes = Vec::new();
                body.read_to_end(&mut bytes).await?;
                serde_json::from_slice(&bytes).ok()
            }
            Err(_) => None,
        };
        found.push((key, failure));
    }
    Ok(found)
}

pub async fn run(state: &State, args: Args) -> anyhow::Result<ExitCode> {
    let failed = failed_inputs(state.store.as_ref(), &state.options.input_bucket).await?;
    if failed.is_empty() && !args.json {
        println!("no failed inputs");
    }
    for (key, failure) in &failed {
        match (args.json, failure) {
            (true, Some(f)) => println!("{}", serde_json::to_string(f)?),
            (true, None) => println!("{}", serde_json::json!({ "failed_key": key, "error": "no error document" })),
            (false, Some(f)) => {
                let place = f.place();
                println!("{}\n  {place}: {}\n  {}", layout::relative_key(key), f.error, f.retry);
            }
            (false, None) => println!("{}\n  (no error document)", layout::relative_key(key)),
        }
    }
    Ok(ExitCode::SUCCESS)
}
