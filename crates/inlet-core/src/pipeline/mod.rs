//! Pipeline definitions: loading, validation and routing.
//!
//! A definition is YAML ([`PipelineDefinition`]); loading validates every field
//! and compiles it into a [`Pipeline`]. Every mistake becomes a [`ConfigError`]
//! naming the file, the field and the fix. [`PipelineSet::route`] picks the
//! pipeline, table and location for an object key.

mod compile;
mod definition;
pub mod names;
pub mod time;

pub use definition::*;

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use chrono_tz::Tz;
use regex::Regex;

use self::time::TimeParser;

/// A mistake in a pipeline definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: `{field}`: {problem}\n    fix: {fix}")]
pub struct ConfigError {
    pub file: String,
    /// The field's path, as in `checks[2].value`.
    pub field: String,
    pub problem: String,
    pub fix: String,
}

/// Every mistake found while loading a set of definitions.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} problem{} in the pipeline definitions:", if n == 1 { "" } else { "s" })?;
        for error in &self.0 {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}

/// Where a partition value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionSource {
    Location,
    Year,
    Month,
    Day,
    Hour,
    /// A string column's value.
    Column(String),
}

impl PartitionSource {
    fn parse(key: &str) -> Self {
        match key {
            "location" => Self::Location,
            "year" => Self::Year,
            "month" => Self::Month,
            "day" => Self::Day,
            "hour" => Self::Hour,
            other => Self::Column(other.to_owned()),
        }
    }
}

/// A validated, compiled column mapping.
#[derive(Debug, Clone)]
pub struct MappedColumn {
    pub source: String,
    pub name: String,
    pub data_type: ColumnType,
    pub units: Option<String>,
    pub description: Option<String>,
}

/// Which columns a check covers.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckTarget {
    AllData,
    Time,
    Column(String),
}

#[derive(Debug, Clone)]
pub struct Check {
    pub kind: CheckKind,
    pub target: CheckTarget,
    pub value: Option<f64>,
    pub action: CheckAction,
    /// Where it was defined, for error messages: `checks[2]`.
    pub origin: String,
}

/// A validated pipeline, ready to run.
#[derive(Debug)]
pub struct Pipeline {
    pub name: String,
    pub description: Option<String>,
    /// Where the definition came from, for messages.
    pub source_file: String,
    triggers: Vec<Regex>,
    table_template: String,
    locations: Vec<(String, Regex)>,
    pub reader: ReaderConfig,
    pub null_values: HashSet<String>,
    /// The source column (or trigger group) the time is read from.
    pub time_column: String,
    pub time: TimeParser,
    /// The time column's name in the table: `time` unless `time.name` says.
    pub time_name: String,
    pub time_type: TimeType,
    /// Where the `local_time` column's wall-clock time is read, if the table has one.
    pub local_timezone: Option<Tz>,
    pub partition_timezone: Tz,
    pub columns: Vec<MappedColumn>,
    pub unmapped_columns: UnmappedColumns,
    pub checks: Vec<Check>,
    pub partition_by: Vec<(String, PartitionSource)>,
    pub output: OutputConfig,
    pub alarms: Alarms,
}

/// A pipeline's alarm thresholds, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alarms {
    /// The share of rows (0 to 1) rejected in an hour above which to alarm.
    pub max_reject_share: Option<f64>,
    /// How long without a file before alarming: whole minutes, 5 m to 7 days.
    pub expected_every: Option<std::time::Duration>,
}

/// The column JSON lines keep the fields nobody named in
/// (`reader.unknown_fields: keep`).
pub const EXTRA_JSON_COLUMN: &str = "extra";

/// The name of the wall-clock time column `time.local_time` adds.
pub const LOCAL_TIME_COLUMN: &str = "local_time";

/// The column JSON lines keep unnamed fields in, unless `columns` maps it.
fn extra_json_column() -> MappedColumn {
    MappedColumn {
        source: EXTRA_JSON_COLUMN.into(),
        name: EXTRA_JSON_COLUMN.into(),
        data_type: ColumnType::String,
        units: None,
        description: Some("the fields the pipeline does not name, as one JSON object by flattened path".into()),
    }
}

impl Pipeline {
    /// Parses and validates one definition. `file` names it in errors.
    pub fn from_yaml(file: &str, text: &str) -> Result<Self, ConfigErrors> {
        let definition = parse_yaml(file, text).map_err(|e| ConfigErrors(vec![e]))?;
        Self::compile(file, definition)
    }

    /// The table for `key`, if a trigger matches it.
    fn table_for(&self, key: &str) -> Option<String> {
        self.triggers.iter().find_map(|regex| {
            let captures = regex.captures(key)?;
            let mut table = self.table_template.clone();
            for name in regex.capture_names().flatten() {
                if let Some(value) = captures.name(name) {
                    table = table.replace(&format!("{{{name}}}"), &names::snake_case(value.as_str()));
                }
            }
            Some(table)
        })
    }

    /// The named groups of the first trigger that matches `key`, with what
    /// they matched: a reader adds the ones `columns` maps as constant columns.
    pub fn captures_for(&self, key: &str) -> Vec<(String, String)> {
        let Some((regex, captures)) = self.triggers.iter().find_map(|regex| regex.captures(key).map(|c| (regex, c))) else {
            return Vec::new();
        };
        regex
            .capture_names()
            .flatten()
            .filter_map(|name| captures.name(name).map(|value| (name.to_owned(), value.as_str().to_owned())))
            .collect()
    }

    fn location_for(&self, key: &str) -> Option<&str> {
        self.locations.iter().find(|(_, regex)| regex.is_match(key)).map(|(name, _)| name.as_str())
    }

    pub fn partitions_by_location(&self) -> bool {
        self.partition_by.iter().any(|(_, s)| *s == PartitionSource::Location)
    }

    pub fn partition_keys(&self) -> Vec<String> {
        self.partition_by.iter().map(|(k, _)| k.clone()).collect()
    }
}

fn kind_name(kind: CheckKind) -> &'static str {
    match kind {
        CheckKind::Missing => "missing",
        CheckKind::FailMin => "fail_min",
        CheckKind::FailMax => "fail_max",
        CheckKind::WarnMin => "warn_min",
        CheckKind::WarnMax => "warn_max",
        CheckKind::Monotonic => "monotonic",
        CheckKind::DuplicateTime => "duplicate_time",
    }
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        kind_name(self)
    }

    /// Whether the check compares with a `value`.
    pub fn needs_bound(self) -> bool {
        matches!(self, CheckKind::FailMin | CheckKind::FailMax | CheckKind::WarnMin | CheckKind::WarnMax)
    }

    /// The bit this check sets in `qc_<column>`, numbered from 1 as in tsdat.
    pub fn qc_bit(self) -> u32 {
        match self {
            CheckKind::Missing => 1,
            CheckKind::FailMin => 2,
            CheckKind::FailMax => 3,
            CheckKind::WarnMin => 4,
            CheckKind::WarnMax => 5,
            CheckKind::Monotonic => 6,
            CheckKind::DuplicateTime => 7,
        }
    }

    /// The bit as a mask.
    pub fn qc_mask(self) -> i32 {
        1 << (self.qc_bit() - 1)
    }
}

fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("{name:?} is not a known timezone"))
}

fn template_placeholders(template: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        found.push(rest[open + 1..open + close].to_owned());
        rest = &rest[open + close + 1..];
    }
    found
}

fn strip_placeholders(template: &str) -> String {
    let mut out = template.to_owned();
    for placeholder in template_placeholders(template) {
        out = out.replace(&format!("{{{placeholder}}}"), "x");
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_yaml(file: &str, text: &str) -> Result<PipelineDefinition, ConfigError> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_yaml_ng puts the field's path first: "checks[0].action: unknown variant ...".
        let (field, problem) = match message.split_once(": ") {
            Some((path, rest)) if !path.contains(' ') => (path.to_owned(), rest.to_owned()),
            _ => ("(document)".to_owned(), message.clone()),
        };
        let fix = if problem.contains("unknown field") {
            "remove or rename the field; the allowed fields are listed in the message and in pipelines/pipeline.schema.json"
        } else if problem.contains("unknown variant") {
            "use one of the values the message lists"
        } else if problem.contains("missing field") {
            "add the field; pipelines/pipeline.schema.json describes each one"
        } else {
            "check the YAML syntax and types against pipelines/pipeline.schema.json"
        };
        ConfigError { file: file.to_owned(), field, problem, fix: fix.to_owned() }
    })
}

include!(concat!(env!("OUT_DIR"), "/embedded_pipelines.rs"));

impl PipelineSet {
    /// The pipelines under `pipelines/` when this crate was built.
    pub fn embedded() -> Result<Self, ConfigErrors> {
        Self::from_sources(EMBEDDED_PIPELINES.iter().copied())
    }
}

/// Where a key goes.
#[derive(Debug, Clone)]
pub struct Route {
    pub pipeline: Arc<Pipeline>,
    pub table: String,
    pub location: Option<String>,
    /// The named groups of the trigger that matched, with their values.
    pub captures: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no pipeline's trigger matches {key:?}; add a trigger to a pipeline under pipelines/, or rename the file")]
    Unmatched { key: String },
    #[error("{key:?} matches more than one pipeline ({pipelines}); narrow their triggers so each file has one owner")]
    Ambiguous { key: String, pipelines: String },
    #[error("{key:?} matches pipeline {pipeline:?} but none of its location patterns; add a `locations` entry in {file}")]
    NoLocation { key: String, pipeline: String, file: String },
}

/// All pipelines, in a fixed order.
#[derive(Debug, Clone, Default)]
pub struct PipelineSet {
    pipelines: Vec<Arc<Pipeline>>,
}

impl PipelineSet {
    /// Definitions given as (file label, YAML text) pairs.
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ConfigErrors> {
        let mut pipelines = Vec::new();
        let mut errors = Vec::new();
        let mut names_seen = BTreeSet::new();
        for (file, text) in sources {
            match Pipeline::from_yaml(file, text) {
                Ok(pipeline) => {
                    if !names_seen.insert(pipeline.name.clone()) {
                        errors.push(ConfigError {
                            file: file.to_owned(),
                            field: "name".into(),
                            problem: format!("another pipeline is already named {:?}", pipeline.name),
                            fix: "give each pipeline its own name".into(),
                        });
                    }
                    pipelines.push(Arc::new(pipeline));
                }
                Err(ConfigErrors(mut found)) => errors.append(&mut found),
            }
        }
        if errors.is_empty() { Ok(Self { pipelines }) } else { Err(ConfigErrors(errors)) }
    }

    /// Every `<dir>/<name>/pipeline.yaml`. The folder name must equal `name`.
    pub fn load_dir(dir: &Path) -> Result<Self, ConfigErrors> {
        let single = |problem: String, fix: &str| {
            ConfigErrors(vec![ConfigError { file: dir.display().to_string(), field: "(folder)".into(), problem, fix: fix.to_owned() }])
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| single(format!("cannot read the pipelines folder: {e}"), "pass an existing folder with --pipelines"))?;
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join("pipeline.yaml");
            if path.is_file() {
                files.push((entry.file_name().to_string_lossy().into_owned(), path));
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(single("no <name>/pipeline.yaml under it".into(), "add pipelines/<name>/pipeline.yaml"));
        }
        let mut texts = Vec::new();
        let mut errors = Vec::new();
        for (folder, path) in &files {
            let label = path.display().to_string();
            match std::fs::read_to_string(path) {
                Ok(text) => texts.push((folder.clone(), label, text)),
                Err(e) => errors.push(ConfigError {
                    file: label,
                    field: "(file)".into(),
                    problem: format!("cannot be read: {e}"),
                    fix: "check the file's permissions and encoding (UTF-8)".into(),
                }),
            }
        }
        let set = Self::from_sources(texts.iter().map(|(_, label, text)| (label.as_str(), text.as_str())));
        let mut set = match set {
            Ok(set) => set,
            Err(ConfigErrors(mut found)) => {
                errors.append(&mut found);
                return Err(ConfigErrors(errors));
            }
        };
        for ((folder, label, _), pipeline) in texts.iter().zip(&set.pipelines) {
            if &pipeline.name != folder {
                errors.push(ConfigError {
                    file: label.clone(),
                    field: "name".into(),
                    problem: format!("{:?} differs from its folder {folder:?}", pipeline.name),
                    fix: format!("set `name: {folder}` or rename the folder"),
                });
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        set.pipelines.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(set)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Pipeline>> {
        self.pipelines.iter()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Pipeline>> {
        self.pipelines.iter().find(|p| p.name == name)
    }

    /// Whether a pipeline's trigger matches `key` itself. An archive that one
    /// does is that pipeline's to read whole (a package of XML notices), not
    /// to expand.
    pub fn claims(&self, key: &str) -> bool {
        !matches!(self.route(key), Err(RouteError::Unmatched { .. }))
    }

    /// Picks the one pipeline for `key`, with its table and location.
    ///
    /// Triggers are written for lower-case suffixes (`\.csv$`); a key whose
    /// suffix is in capitals (`Export.CSV`) is matched as if it were not, so
    /// it flows like its lower-case form.
    pub fn route(&self, key: &str) -> Result<Route, RouteError> {
        let folded = fold_suffix(key);
        let matches_of = |key: &str| -> Vec<(&Arc<Pipeline>, String)> {
            self.pipelines.iter().filter_map(|p| p.table_for(key).map(|table| (p, table))).collect()
        };
        let mut matches = matches_of(key);
        if matches.is_empty() && folded != key {
            matches = matches_of(&folded);
        }
        let key = if matches.first().is_some_and(|(p, _)| p.table_for(key).is_none()) { folded.as_str() } else { key };
        let (pipeline, table) = match matches.as_slice() {
            [] => return Err(RouteError::Unmatched { key: key.to_owned() }),
            [one] => one.clone(),
            many => {
                let names: Vec<_> = many.iter().map(|(p, _)| p.name.as_str()).collect();
                return Err(RouteError::Ambiguous { key: key.to_owned(), pipelines: names.join(", ") });
            }
        };
        let location = pipeline.location_for(key).map(str::to_owned);
        if location.is_none() && pipeline.partitions_by_location() {
            return Err(RouteError::NoLocation {
                key: key.to_owned(),
                pipeline: pipeline.name.clone(),
                file: pipeline.source_file.clone(),
            });
        }
        let captures = pipeline.captures_for(key);
        Ok(Route { pipeline: Arc::clone(pipeline), table, location, captures })
    }
}

/// `in/a/Export.CSV` → `in/a/Export.csv`: the key with the suffix of its
/// file name (from the first dot) in lower case.
fn fold_suffix(key: &str) -> String {
    let name_start = key.rfind('/').map_or(0, |i| i + 1);
    match key[name_start..].find('.') {
        Some(dot) => format!("{}{}", &key[..name_start + dot], key[name_start + dot..].to_ascii_lowercase()),
        None => key.to_owned(),
    }
}

#[cfg(test)]
mod tests;
