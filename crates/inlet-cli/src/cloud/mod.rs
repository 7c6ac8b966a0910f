//! The AWS side of the CLI, present only when it is built with the `aws`
//! feature. The commands see one type, [`Cloud`]: a connection to an
//! account, or, in a build without AWS, a type with no values, so every
//! `Some(cloud)` branch is compiled but never taken and no command carries a
//! `cfg` of its own.

// Compiled in every build, so the build with AWS checks it too.
#[cfg_attr(feature = "aws", allow(dead_code))]
mod absent;
#[cfg(feature = "aws")]
mod aws;

#[cfg(not(feature = "aws"))]
pub use absent::{Cloud, connect};
#[cfg(feature = "aws")]
pub use aws::{Cloud, connect};

use std::collections::BTreeMap;
use std::sync::Arc;

use inlet_core::catalog::Catalog;
use inlet_core::storage::ObjectStore;

/// What connecting to an account gives the commands.
pub struct Connection {
    pub cloud: Cloud,
    /// The --stack's outputs, by key; empty without --stack.
    pub stack_outputs: BTreeMap<String, String>,
    pub store: Arc<dyn ObjectStore>,
    pub catalog: Arc<dyn Catalog>,
}

/// An Athena result set: column names and rows of nullable text.
pub struct AthenaRows {
    pub query_id: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Where Athena runs a query.
#[cfg_attr(not(feature = "aws"), allow(dead_code, reason = "only the AWS backend reads it"))]
pub struct AthenaTarget<'a> {
    pub database: &'a str,
    pub workgroup: &'a str,
    /// `s3://bucket/prefix/`; `None` uses the workgroup's setting.
    pub output_location: Option<String>,
}

/// Messages a dead-letter queue gave back to its source queue.
pub struct DeadLettersMoved {
    pub source_url: String,
    pub messages: usize,
}
