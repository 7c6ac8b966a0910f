//! # inlet-emr
//!
//! Loads too big for a Lambda run on Spark: on an EMR cluster or EMR
//! Serverless in AWS, or on a local Spark on one machine. This crate holds
//! what they share:
//!
//! - [`product::Templates`]: `config/emr/<product>/` with `${NAME}`
//!   substitution, and a payload's overrides, extensions and step arguments;
//! - [`request::LaunchRequest`]: a day's marker object or a direct payload;
//! - [`run::RunState`]: one row per run, created once, changed only from the
//!   version read; [`claim::claim`] decides whether a start creates, resumes
//!   or leaves a run alone;
//! - [`launcher::Launcher`]: starts clusters (or a job run per step on EMR
//!   Serverless, [`serverless`]), follows their step and state events,
//!   relaunches a failed cluster or job run from its failed step a bounded
//!   number of times, and stops a product's clusters or job runs;
//! - [`local::LocalBackfill`]: the same steps through `spark-submit`.

pub mod claim;
pub mod engine;
pub mod error;
pub mod events;
pub mod jobflow;
pub mod launcher;
pub mod local;
pub mod merge;
pub mod product;
pub mod request;
pub mod run;
pub mod serverless;
pub mod template;

pub use error::EmrError;
