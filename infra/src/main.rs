//! `infra synth`: writes inlet's CloudFormation templates and stack configurations.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Synthesizes inlet's CloudFormation from typed Rust", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write cloudformation/*.cfn.yaml and config/*-stack-configuration.json.
    Synth {
        /// The repository root to write under.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Write nothing; exit 1 if any committed file differs from what synth produces.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let Command::Synth { out, check } = Cli::parse().command;
    if check {
        let stale = infra::stale_files(&out);
        for (path, why) in &stale {
            eprintln!("{} {why}: run `cargo run -p infra -- synth` and commit the result", path.display());
        }
        if !stale.is_empty() {
            std::process::exit(1);
        }
        println!("templates and configurations are up to date");
        return Ok(());
    }
    for (path, text) in infra::stacks::app().synth() {
        let target = out.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
