//! # infra
//!
//! CloudFormation as typed Rust, in the manner of AWS CDK: constructs with
//! secure defaults, typed references, grants that write least-privilege
//! statements, and stable logical ids. `cargo run -p infra -- synth` writes
//! inlet's templates into `cloudformation/` and the stack configurations into
//! `config/`; a test fails when the committed files differ.
//!
//! - [`expr`]: `Ref`, `Fn::GetAtt`, `Fn::Sub` and friends as values;
//! - [`stack`]: App, Stack, Parameter, Output, and resource handles;
//! - [`iam`]: roles and the [`iam::Grantee`] trait grants are made to;
//! - [`resources`]: buckets, queues, functions, tables, Glue, Athena, SNS,
//!   schedules, CodeBuild and CodePipeline;
//! - [`stacks`]: inlet's app, cleaner and pipeline stacks.

pub mod expr;
pub mod iam;
pub mod resources;
pub mod stack;
pub mod stacks;

use std::path::{Path, PathBuf};

/// Files under `root` that differ from what synth produces, with the reason.
pub fn stale_files(root: &Path) -> Vec<(PathBuf, &'static str)> {
    stacks::app()
        .synth()
        .into_iter()
        .filter_map(|(path, text)| match std::fs::read_to_string(root.join(&path)) {
            Ok(committed) if committed == text => None,
            Ok(_) => Some((path, "differs")),
            Err(_) => Some((path, "is missing")),
        })
        .collect()
}
