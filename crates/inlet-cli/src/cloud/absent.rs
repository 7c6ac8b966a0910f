//! A build without the `aws` feature: asking for AWS says how to get it.

use std::sync::Arc;

use inlet_core::queue::MessageQueue;
use inlet_emr::engine::Engines;
use inlet_emr::run::RunState;

use super::{AthenaRows, AthenaTarget, Connection, DeadLettersMoved};
use crate::state::StateOptions;

/// No connection can exist in this build.
pub enum Cloud {}

pub async fn connect(_options: &StateOptions) -> anyhow::Result<Connection> {
    anyhow::bail!(
        "this inlet was built without its AWS backends, which --backend aws, --endpoint and --stack need; \
         build it with them: `cargo build -p inlet-cli --features aws` (or `cargo install --path crates/inlet-cli --features aws`)"
    )
}

impl Cloud {
    pub fn run_state(&self, _table: String) -> Arc<dyn RunState> {
        match *self {}
    }

    pub fn queue(&self, _url: String) -> Arc<dyn MessageQueue> {
        match *self {}
    }

    pub fn engines(&self) -> Engines {
        match *self {}
    }

    pub async fn athena(&self, _target: AthenaTarget<'_>, _sql: &str) -> anyhow::Result<AthenaRows> {
        match *self {}
    }

    pub async fn move_dead_letters_back(&self, _url: &str) -> anyhow::Result<DeadLettersMoved> {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        state: crate::state::StateOptions,
    }

    #[tokio::test]
    async fn asking_for_aws_says_how_to_build_it_in() {
        let options = Cli::parse_from(["inlet", "--stack", "inlet-prod"]).state;
        let error = super::connect(&options).await.err().expect("no connection without AWS").to_string();
        assert!(error.contains("--features aws"), "{error}");
    }
}
