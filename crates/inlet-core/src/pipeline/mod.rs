//! Pipeline definitions: loading, validation and routing.
//!
//! A definition is YAML ([`PipelineDefinition`]); loading validates every field
//! and compiles it into a [`Pipeline`]. Every mistake becomes a [`ConfigError`]
//! naming the file, the field and the fix. [`PipelineSet::route`] picks the
//! pipeline, table and location for an object key.

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

use self::time::{TimeFormat, TimeParser};

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
    pub time_column: String,
    pub time: TimeParser,
    /// Where the `local_time` column's wall-clock time is read, if the table has one.
    pub local_timezone: Option<Tz>,
    pub partition_timezone: Tz,
    pub columns: Vec<MappedColumn>,
    pub unmapped_columns: UnmappedColumns,
    pub checks: Vec<Check>,
    pub partition_by: Vec<(String, PartitionSource)>,
    pub output: OutputConfig,
}

/// The name of the column every table gets from `time.column`.
pub const TIME_COLUMN: &str = "time";

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

/// A CSV reader's settings that YAML's types cannot check.
fn check_csv_reader(csv: &CsvConfig, err: &mut impl FnMut(&str, String, &str)) {
    if let Err(problem) = csv.delimiter_byte() {
        err("reader.delimiter", problem, "use one character such as \",\", \";\", \"|\" or \"\\t\"");
    }
    if !csv.header && csv.column_names.is_empty() {
        err(
            "reader.column_names",
            "the file has no header (`reader.header: false`) but no column names are given".into(),
            "list the columns in file order, e.g. column_names: [ticker, date, open]",
        );
    }
    if csv.header && !csv.column_names.is_empty() {
        err(
            "reader.column_names",
            "column names are given but the file has a header, which names them".into(),
            "remove column_names, or set `reader.header: false`",
        );
    }
}

impl Pipeline {
    /// Parses and validates one definition. `file` names it in errors.
    pub fn from_yaml(file: &str, text: &str) -> Result<Self, ConfigErrors> {
        let definition = parse_yaml(file, text).map_err(|e| ConfigErrors(vec![e]))?;
        Self::compile(file, definition)
    }

    /// Validates a parsed definition, reporting every problem at once.
    pub fn compile(file: &str, def: PipelineDefinition) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let mut err = |field: &str, problem: String, fix: &str| {
            errors.push(ConfigError { file: file.to_owned(), field: field.to_owned(), problem, fix: fix.to_owned() });
        };

        if !names::is_snake_case(&def.name) {
            err("name", format!("{:?} is not lowercase snake_case", def.name), &format!("use {:?}", names::snake_case(&def.name)));
        }

        if def.triggers.is_empty() {
            err(
                "triggers",
                "no trigger is given, so no file would ever reach this pipeline".into(),
                "add a regular expression for the keys this pipeline takes, e.g. '(^|/)mydata_.*\\.csv$'",
            );
        }
        let mut triggers = Vec::new();
        for (i, pattern) in def.triggers.iter().enumerate() {
            match Regex::new(pattern) {
                Ok(regex) => triggers.push(regex),
                Err(e) => err(
                    &format!("triggers[{i}]"),
                    format!("not a valid regular expression: {}", one_line(&e.to_string())),
                    "escape literal dots as \\. and check the brackets; the syntax is Rust's regex crate",
                ),
            }
        }

        let placeholders = template_placeholders(&def.table);
        let literal: String = strip_placeholders(&def.table);
        if def.table.is_empty() || !literal.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_')) {
            err(
                "table",
                format!("{:?} is not a lowercase snake_case table name", def.table),
                "use lowercase letters, digits and _, with {group} for a trigger's named group",
            );
        }
        for (i, regex) in triggers.iter().enumerate() {
            let groups: HashSet<&str> = regex.capture_names().flatten().collect();
            for placeholder in &placeholders {
                if !groups.contains(placeholder.as_str()) {
                    err(
                        "table",
                        format!("uses {{{placeholder}}} but triggers[{i}] has no group named {placeholder:?}"),
                        &format!("add (?P<{placeholder}>...) to triggers[{i}], or remove {{{placeholder}}} from the table name"),
                    );
                }
            }
        }

        let mut locations = Vec::new();
        for (i, rule) in def.locations.iter().enumerate() {
            if names::partition_value(&rule.name) != rule.name {
                err(
                    &format!("locations[{i}].name"),
                    format!("{:?} cannot be a partition value", rule.name),
                    "use letters, digits, - and _ only",
                );
            }
            match Regex::new(&rule.pattern) {
                Ok(regex) => locations.push((rule.name.clone(), regex)),
                Err(e) => err(
                    &format!("locations[{i}].pattern"),
                    format!("not a valid regular expression: {}", one_line(&e.to_string())),
                    "escape literal dots as \\.",
                ),
            }
        }

        if let ReaderConfig::Csv(csv) = &def.reader {
            check_csv_reader(csv, &mut err);
        }
        let fixed_columns = def.reader.fixed_columns();

        let timezone = parse_timezone(&def.time.timezone).unwrap_or_else(|problem| {
            err("time.timezone", problem, "use an IANA name such as \"UTC\", \"Australia/Sydney\" or \"America/Los_Angeles\"");
            Tz::UTC
        });
        let partition_timezone = match &def.time.partition_timezone {
            None => timezone,
            Some(name) => parse_timezone(name).unwrap_or_else(|problem| {
                err("time.partition_timezone", problem, "use an IANA name such as \"UTC\" or \"Australia/Sydney\"");
                Tz::UTC
            }),
        };
        let format = TimeFormat::parse(&def.time.format).unwrap_or_else(|problem| {
            err(
                "time.format",
                problem,
                "use a chrono format such as \"%Y-%m-%d %H:%M:%S\" or \"%Y%m%d\", or one of epoch_seconds, epoch_millis, rfc3339",
            );
            TimeFormat::EpochSeconds
        });
        let local_timezone = def.time.local_time.as_deref().map(|name| {
            parse_timezone(name).unwrap_or_else(|problem| {
                err("time.local_time", problem, "use an IANA name such as \"Australia/Sydney\"");
                Tz::UTC
            })
        });
        let captured = |name: &str| triggers.iter().any(|regex| regex.capture_names().flatten().any(|group| group == name));
        if let Some(known) = fixed_columns.as_ref().filter(|known| !known.is_empty())
            && !known.contains(&def.time.column)
            && !captured(&def.time.column)
        {
            err(
                "time.column",
                format!("{:?} is not one of the reader's columns {known:?}, nor a named group of a trigger", def.time.column),
                "name one of the reader's columns, or a trigger's named group",
            );
        }

        let mut columns = Vec::new();
        let mut sources = HashSet::new();
        let mut names_seen: HashSet<String> = HashSet::from([TIME_COLUMN.to_owned()]);
        if local_timezone.is_some() {
            names_seen.insert(LOCAL_TIME_COLUMN.to_owned());
        }
        for (i, mapping) in def.columns.iter().enumerate() {
            let (derived_name, derived_units) = names::split_units(&mapping.source);
            let name = mapping.name.clone().unwrap_or(derived_name);
            if !sources.insert(mapping.source.clone()) {
                err(&format!("columns[{i}].source"), format!("{:?} is mapped twice", mapping.source), "keep one mapping per source column");
            }
            if mapping.source == def.time.column {
                err(
                    &format!("columns[{i}].source"),
                    format!("{:?} is the time column, which becomes `time`", mapping.source),
                    "remove this mapping; `time` is made from time.column",
                );
            }
            if !names::is_snake_case(&name) {
                err(
                    &format!("columns[{i}].name"),
                    format!("{name:?} is not lowercase snake_case"),
                    &format!("use {:?}", names::snake_case(&name)),
                );
            } else if name.starts_with("qc_") {
                err(
                    &format!("columns[{i}].name"),
                    format!("{name:?} starts with qc_, which is kept for quality-check columns"),
                    "choose another name",
                );
            } else if !names_seen.insert(name.clone()) {
                err(&format!("columns[{i}].name"), format!("{name:?} is used by more than one column"), "give each column its own name");
            }
            if let Some(known) = fixed_columns.as_ref().filter(|known| !known.is_empty())
                && !known.contains(&mapping.source)
                && !captured(&mapping.source)
            {
                err(
                    &format!("columns[{i}].source"),
                    format!("{:?} is not one of the reader's columns {known:?}, nor a named group of a trigger", mapping.source),
                    "use one of the reader's columns, or a trigger's named group",
                );
            }
            columns.push(MappedColumn {
                source: mapping.source.clone(),
                name,
                data_type: mapping.data_type,
                units: mapping.units.clone().or(derived_units),
                description: mapping.description.clone(),
            });
        }

        if let ReaderConfig::JsonLines(JsonLinesConfig { unknown_fields: UnknownFields::Keep, .. }) = &def.reader
            && !columns.iter().any(|c| c.source == EXTRA_JSON_COLUMN)
        {
            columns.push(extra_json_column());
        }

        let mut partition_by = Vec::new();
        let mut seen_keys = HashSet::new();
        for (i, key) in def.partition_by.iter().enumerate() {
            let source = PartitionSource::parse(key);
            let field = format!("partition_by[{i}]");
            if !seen_keys.insert(key.clone()) {
                err(&field, format!("{key:?} is listed twice"), "list each partition key once");
            }
            match &source {
                PartitionSource::Location if def.locations.is_empty() => {
                    err(
                        &field,
                        "partitioning by location needs location rules, and `locations` is empty".into(),
                        "add `locations:` entries with a name and a key pattern, or drop `location` from partition_by",
                    );
                }
                PartitionSource::Column(name) => match columns.iter().find(|c| &c.name == name) {
                    Some(column) if column.data_type == ColumnType::String => {}
                    Some(_) => err(
                        &field,
                        format!("column {name:?} is not a string column"),
                        "partition by a string column, or by location/year/month/day/hour",
                    ),
                    None => err(
                        &field,
                        format!("{name:?} is neither location/year/month/day/hour nor a mapped column"),
                        "use location, year, month, day, hour, or the name of a string column listed in `columns`",
                    ),
                },
                _ => {}
            }
            partition_by.push((key.clone(), source));
        }
        // Partition columns live in the path, not in the files, so a data column
        // with a partition's name would be ambiguous.
        for (i, column) in columns.iter().enumerate() {
            if matches!(column.name.as_str(), "location" | "year" | "month" | "day" | "hour") && seen_keys.contains(&column.name) {
                err(&format!("columns[{i}].name"), format!("{:?} is also a partition key", column.name), "rename the column");
            }
        }

        let mut checks = Vec::new();
        for (i, check) in def.checks.iter().enumerate() {
            let origin = format!("checks[{i}]");
            let needs_value = matches!(check.kind, CheckKind::FailMin | CheckKind::FailMax | CheckKind::WarnMin | CheckKind::WarnMax);
            match (needs_value, check.value) {
                (true, None) => {
                    err(&format!("{origin}.value"), format!("{} needs a bound", kind_name(check.kind)), "add `value: <number>`")
                }
                (false, Some(_)) => err(&format!("{origin}.value"), format!("{} takes no value", kind_name(check.kind)), "remove `value`"),
                (true, Some(v)) if !v.is_finite() => {
                    err(&format!("{origin}.value"), "the bound is not a finite number".into(), "use a finite number")
                }
                _ => {}
            }
            if check.columns.is_empty() {
                err(
                    &format!("{origin}.columns"),
                    "no column is named".into(),
                    "list output column names, `time`, or \"*\" for every data column",
                );
            }
            for (j, column) in check.columns.iter().enumerate() {
                let field = format!("{origin}.columns[{j}]");
                let target = match column.as_str() {
                    "*" => CheckTarget::AllData,
                    TIME_COLUMN => CheckTarget::Time,
                    name => CheckTarget::Column(name.to_owned()),
                };
                let time_only = matches!(check.kind, CheckKind::Monotonic | CheckKind::DuplicateTime);
                if time_only && target != CheckTarget::Time {
                    err(&field, format!("{} applies to `time` only", kind_name(check.kind)), "use `columns: [time]`");
                }
                if target == CheckTarget::Time && needs_value {
                    err(
                        &field,
                        format!("{} is a numeric bound and `time` is a timestamp", kind_name(check.kind)),
                        "bound a data column instead",
                    );
                }
                if let CheckTarget::Column(name) = &target {
                    if !names::is_snake_case(name) {
                        err(
                            &field,
                            format!("{name:?} is not an output column name (those are snake_case)"),
                            &format!("use {:?}", names::snake_case(name)),
                        );
                    } else if def.unmapped_columns != UnmappedColumns::Infer && !columns.iter().any(|c| &c.name == name) {
                        err(
                            &field,
                            format!("{name:?} is not a mapped column"),
                            "name a column from `columns`, or set unmapped_columns: infer",
                        );
                    }
                    if needs_value
                        && columns.iter().any(|c| &c.name == name && matches!(c.data_type, ColumnType::String | ColumnType::Boolean))
                    {
                        err(&field, format!("{name:?} is not numeric, so it has no min or max"), "bound a float64 or int64 column");
                    }
                }
                if matches!(check.action, CheckAction::Remove) && target == CheckTarget::Time {
                    err(
                        &format!("{origin}.action"),
                        "a row cannot keep going without its time".into(),
                        "use reject or fail for checks on `time`",
                    );
                }
                checks.push(Check { kind: check.kind, target, value: check.value, action: check.action, origin: origin.clone() });
            }
        }

        if def.output.target_file_mib == 0 {
            err("output.target_file_mib", "must be at least 1".into(), "use a size in MiB such as 128");
        }
        if def.output.row_group_rows == 0 {
            err("output.row_group_rows", "must be at least 1".into(), "use a row count such as 122880");
        }

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        Ok(Pipeline {
            name: def.name,
            description: def.description,
            source_file: file.to_owned(),
            triggers,
            table_template: def.table,
            locations,
            null_values: def.reader.null_values().iter().map(|v| v.trim().to_owned()).collect(),
            reader: def.reader,
            time_column: def.time.column,
            time: TimeParser { format, timezone },
            local_timezone,
            partition_timezone,
            columns,
            unmapped_columns: def.unmapped_columns,
            checks,
            partition_by,
            output: def.output,
        })
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
