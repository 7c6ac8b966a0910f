//! # inlet-sources
//!
//! Remote data inlet fetches on a schedule: `config/sources.yaml` and its
//! validation, URL templates with explicit calendar arithmetic in each
//! source's time zone, and the harvest plan, the downloads one scheduled run
//! queues, and the check of the addresses a source may reach. It makes no
//! request itself: fetching is the downloader's.

pub mod address;
pub mod config;
pub mod download;
pub mod fetch;
pub mod links;
pub mod plan;
pub mod schedule;
pub mod state;
pub mod template;

pub use config::{Source, SourceErrors, SourceKind, SourceSet};
pub use plan::{Download, harvest};
pub use schedule::Schedule;
pub use template::{Template, Zone};

/// Where the sources are read from unless told otherwise.
pub const DEFAULT_SOURCES_FILE: &str = "config/sources.yaml";
