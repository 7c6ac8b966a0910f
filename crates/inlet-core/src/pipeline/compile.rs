//! Validating a parsed definition into a [`Pipeline`], a section at a time.
//! Every section reports all of its mistakes, so one run of `inlet
//! pipelines check` lists everything to fix.

use std::collections::HashSet;

use chrono_tz::Tz;
use regex::Regex;

use super::time::{TimeFormat, TimeParser};
use super::*;

/// The mistakes found in one definition so far.
struct Problems<'f> {
    file: &'f str,
    found: Vec<ConfigError>,
}

impl Problems<'_> {
    fn add(&mut self, field: &str, problem: String, fix: &str) {
        self.found.push(ConfigError { file: self.file.to_owned(), field: field.to_owned(), problem, fix: fix.to_owned() });
    }
}

/// The `time` section, compiled.
struct CompiledTime {
    parser: TimeParser,
    local_timezone: Option<Tz>,
    partition_timezone: Tz,
}

impl Pipeline {
    /// Validates a parsed definition, reporting every problem at once.
    pub fn compile(file: &str, def: PipelineDefinition) -> Result<Self, ConfigErrors> {
        let mut problems = Problems { file, found: Vec::new() };
        check_name(&def.name, &mut problems);
        let triggers = compile_triggers(&def.triggers, &mut problems);
        check_table(&def.table, &triggers, &mut problems);
        let locations = compile_locations(&def.locations, &mut problems);
        let captured = |name: &str| triggers.iter().any(|regex| regex.capture_names().flatten().any(|group| group == name));
        let time = compile_time(&def, &captured, &mut problems);
        let columns = compile_columns(&def, &captured, &mut problems);
        check_reader(&def, &columns, &mut problems);
        let partition_by = compile_partitions(&def, &columns, &mut problems);
        let checks = compile_checks(&def, &columns, &mut problems);
        check_output(&def.output, &mut problems);
        let alarms = compile_alarms(&def.alarms, &mut problems);
        if !problems.found.is_empty() {
            return Err(ConfigErrors(problems.found));
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
            time: time.parser,
            time_name: def.time.name,
            time_type: def.time.data_type,
            local_timezone: time.local_timezone,
            partition_timezone: time.partition_timezone,
            columns,
            unmapped_columns: def.unmapped_columns,
            checks,
            partition_by,
            output: def.output,
            alarms,
        })
    }
}

fn check_name(name: &str, problems: &mut Problems<'_>) {
    if !names::is_snake_case(name) {
        problems.add("name", format!("{name:?} is not lowercase snake_case"), &format!("use {:?}", names::snake_case(name)));
    }
}

fn compile_triggers(patterns: &[String], problems: &mut Problems<'_>) -> Vec<Regex> {
    if patterns.is_empty() {
        problems.add(
            "triggers",
            "no trigger is given, so no file would ever reach this pipeline".into(),
            "add a regular expression for the keys this pipeline takes, e.g. '(^|/)mydata_.*\\.csv$'",
        );
    }
    let mut triggers = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        match Regex::new(pattern) {
            Ok(regex) => triggers.push(regex),
            Err(e) => problems.add(
                &format!("triggers[{i}]"),
                format!("not a valid regular expression: {}", one_line(&e.to_string())),
                "escape literal dots as \\. and check the brackets; the syntax is Rust's regex crate",
            ),
        }
    }
    triggers
}

fn check_table(table: &str, triggers: &[Regex], problems: &mut Problems<'_>) {
    let literal: String = strip_placeholders(table);
    if table.is_empty() || !literal.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_')) {
        problems.add(
            "table",
            format!("{table:?} is not a lowercase snake_case table name"),
            "use lowercase letters, digits and _, with {group} for a trigger's named group",
        );
    }
    for (i, regex) in triggers.iter().enumerate() {
        let groups: HashSet<&str> = regex.capture_names().flatten().collect();
        for placeholder in template_placeholders(table) {
            if !groups.contains(placeholder.as_str()) {
                problems.add(
                    "table",
                    format!("uses {{{placeholder}}} but triggers[{i}] has no group named {placeholder:?}"),
                    &format!("add (?P<{placeholder}>...) to triggers[{i}], or remove {{{placeholder}}} from the table name"),
                );
            }
        }
    }
}

fn compile_locations(rules: &[LocationRule], problems: &mut Problems<'_>) -> Vec<(String, Regex)> {
    let mut locations = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if names::partition_value(&rule.name) != rule.name {
            problems.add(
                &format!("locations[{i}].name"),
                format!("{:?} cannot be a partition value", rule.name),
                "use letters, digits, - and _ only",
            );
        }
        match Regex::new(&rule.pattern) {
            Ok(regex) => locations.push((rule.name.clone(), regex)),
            Err(e) => problems.add(
                &format!("locations[{i}].pattern"),
                format!("not a valid regular expression: {}", one_line(&e.to_string())),
                "escape literal dots as \\.",
            ),
        }
    }
    locations
}

fn compile_time(def: &PipelineDefinition, captured: &dyn Fn(&str) -> bool, problems: &mut Problems<'_>) -> CompiledTime {
    let config = &def.time;
    let timezone = parse_timezone(&config.timezone).unwrap_or_else(|problem| {
        problems.add("time.timezone", problem, "use an IANA name such as \"UTC\", \"Australia/Sydney\" or \"America/Los_Angeles\"");
        Tz::UTC
    });
    let partition_timezone = match &config.partition_timezone {
        None => timezone,
        Some(name) => parse_timezone(name).unwrap_or_else(|problem| {
            problems.add("time.partition_timezone", problem, "use an IANA name such as \"UTC\" or \"Australia/Sydney\"");
            Tz::UTC
        }),
    };
    let format = TimeFormat::parse(&config.format).unwrap_or_else(|problem| {
        problems.add(
            "time.format",
            problem,
            "use a chrono format such as \"%Y-%m-%d %H:%M:%S\" or \"%Y%m%d\", or one of epoch_seconds, epoch_millis, rfc3339",
        );
        TimeFormat::EpochSeconds
    });
    let local_timezone = config.local_time.as_deref().map(|name| {
        parse_timezone(name).unwrap_or_else(|problem| {
            problems.add("time.local_time", problem, "use an IANA name such as \"Australia/Sydney\"");
            Tz::UTC
        })
    });
    if let Some(known) = def.reader.fixed_columns().filter(|known| !known.is_empty())
        && !known.contains(&config.column)
        && !captured(&config.column)
    {
        problems.add(
            "time.column",
            format!("{:?} is not one of the reader's columns {known:?}, nor a named group of a trigger", config.column),
            "name one of the reader's columns, or a trigger's named group",
        );
    }
    check_time_name(config, problems);
    if config.data_type == TimeType::Date {
        check_date(def, problems);
    }
    CompiledTime { parser: TimeParser { format, timezone }, local_timezone, partition_timezone }
}

fn check_time_name(config: &TimeConfig, problems: &mut Problems<'_>) {
    let name = &config.name;
    if !names::is_snake_case(name) {
        problems.add("time.name", format!("{name:?} is not lowercase snake_case"), &format!("use {:?}", names::snake_case(name)));
    } else if name == LOCAL_TIME_COLUMN || names::is_quality_column(name) || PARTITION_KEYWORDS.contains(&name.as_str()) {
        problems.add(
            "time.name",
            format!("{name:?} is reserved (local_time, qc_*, or a partition keyword)"),
            "use time, date or another name of its own",
        );
    }
}

/// A date is a calendar day: it has no hour, and no zone to convert from.
fn check_date(def: &PipelineDefinition, problems: &mut Problems<'_>) {
    let config = &def.time;
    if config.timezone != "UTC" || config.partition_timezone.as_deref().is_some_and(|zone| zone != "UTC") {
        problems.add(
            "time.timezone",
            "a date (`time.type: date`) is a calendar day, which no time zone shifts".into(),
            "remove time.timezone and time.partition_timezone",
        );
    }
    if config.local_time.is_some() {
        problems.add("time.local_time", "a date has no wall-clock time".into(), "remove time.local_time, or use `time.type: timestamp`");
    }
    if def.partition_by.iter().any(|key| key == "hour") {
        problems.add("partition_by", "a date has no hour to partition by".into(), "partition by year, month or day");
    }
}

/// The partition keys made from time or location rather than a column.
const PARTITION_KEYWORDS: [&str; 5] = ["location", "year", "month", "day", "hour"];

fn compile_columns(def: &PipelineDefinition, captured: &dyn Fn(&str) -> bool, problems: &mut Problems<'_>) -> Vec<MappedColumn> {
    let fixed_columns = def.reader.fixed_columns();
    let mut columns = Vec::new();
    let mut sources = HashSet::new();
    let mut names_seen: HashSet<String> = HashSet::from([def.time.name.clone()]);
    if def.time.local_time.is_some() {
        names_seen.insert(LOCAL_TIME_COLUMN.to_owned());
    }
    for (i, mapping) in def.columns.iter().enumerate() {
        let (derived_name, derived_units) = names::split_units(&mapping.source);
        let name = mapping.name.clone().unwrap_or(derived_name);
        if !sources.insert(mapping.source.clone()) {
            problems.add(
                &format!("columns[{i}].source"),
                format!("{:?} is mapped twice", mapping.source),
                "keep one mapping per source column",
            );
        }
        if mapping.source == def.time.column {
            problems.add(
                &format!("columns[{i}].source"),
                format!("{:?} is the time column, which becomes `{}`", mapping.source, def.time.name),
                &format!("remove this mapping; `{}` is made from time.column", def.time.name),
            );
        }
        if !names::is_snake_case(&name) {
            problems.add(
                &format!("columns[{i}].name"),
                format!("{name:?} is not lowercase snake_case"),
                &format!("use {:?}", names::snake_case(&name)),
            );
        } else if names::is_quality_column(&name) {
            problems.add(
                &format!("columns[{i}].name"),
                format!("{name:?} starts with qc_, which is kept for quality-check columns"),
                "choose another name",
            );
        } else if !names_seen.insert(name.clone()) {
            problems.add(
                &format!("columns[{i}].name"),
                format!("{name:?} is used by more than one column"),
                "give each column its own name",
            );
        }
        if let Some(known) = fixed_columns.as_ref().filter(|known| !known.is_empty())
            && !known.contains(&mapping.source)
            && !captured(&mapping.source)
        {
            problems.add(
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
    columns
}

/// A reader's settings that YAML's types cannot check.
fn check_reader(def: &PipelineDefinition, columns: &[MappedColumn], problems: &mut Problems<'_>) {
    match &def.reader {
        ReaderConfig::Csv(csv) => check_csv_reader(csv, problems),
        ReaderConfig::Xml(xml) => check_xml_reader(xml, &def.time.column, columns, problems),
        ReaderConfig::EsriGrid(_) | ReaderConfig::JsonLines(_) => {}
    }
}

fn check_csv_reader(csv: &CsvConfig, problems: &mut Problems<'_>) {
    if let Err(problem) = csv.delimiter_byte() {
        problems.add("reader.delimiter", problem, "use one character such as \",\", \";\", \"|\" or \"\\t\"");
    }
    if !csv.header && csv.column_names.is_empty() {
        problems.add(
            "reader.column_names",
            "the file has no header (`reader.header: false`) but no column names are given".into(),
            "list the columns in file order, e.g. column_names: [ticker, date, open]",
        );
    }
    if csv.header && !csv.column_names.is_empty() {
        problems.add(
            "reader.column_names",
            "column names are given but the file has a header, which names them".into(),
            "remove column_names, or set `reader.header: false`",
        );
    }
}

/// XML columns are element paths, so each rule must name one a column reads.
fn check_xml_reader(xml: &XmlConfig, time_column: &str, columns: &[MappedColumn], problems: &mut Problems<'_>) {
    if xml.record_element.as_deref().is_some_and(|element| element.trim().is_empty()) {
        problems.add("reader.record_element", "is empty".into(), "name the element a row is made from, or remove the key");
    }
    for (i, column) in columns.iter().enumerate() {
        if !names::is_snake_case(&column.source) {
            problems.add(
                &format!("columns[{i}].source"),
                format!("{:?} is not an XML path (element names in snake_case, joined with __)", column.source),
                &format!("use {:?}", names::snake_case(&column.source)),
            );
        }
    }
    let paths = columns.iter().map(|c| c.source.as_str()).chain([time_column]);
    let explodes = xml.repeated.iter().filter(|r| r.rule == RepeatRule::Explode).count();
    for (i, rule) in xml.repeated.iter().enumerate() {
        let field = format!("reader.repeated[{i}]");
        let read = match rule.rule {
            RepeatRule::Explode => paths.clone().any(|path| path == rule.path || path.starts_with(&format!("{}__", rule.path))),
            _ => paths.clone().any(|path| path == rule.path),
        };
        if !read {
            problems.add(
                &format!("{field}.path"),
                format!("{:?} is not a path any column reads", rule.path),
                "use a `columns` source (or, for explode, the path of an element above one)",
            );
        }
        if rule.path == time_column && rule.rule == RepeatRule::Join {
            problems.add(&format!("{field}.rule"), "the time column takes one value".into(), "use first or explode");
        }
        if rule.separator.is_some() && rule.rule != RepeatRule::Join {
            problems.add(&format!("{field}.separator"), "only `join` has a separator".into(), "remove it, or use `rule: join`");
        }
    }
    if explodes > 1 {
        problems.add(
            "reader.repeated",
            format!("{explodes} paths explode, and rows from two would multiply"),
            "explode one element; join the other's values",
        );
    }
}

fn compile_partitions(def: &PipelineDefinition, columns: &[MappedColumn], problems: &mut Problems<'_>) -> Vec<(String, PartitionSource)> {
    let mut partition_by = Vec::new();
    let mut seen_keys = HashSet::new();
    for (i, key) in def.partition_by.iter().enumerate() {
        let source = PartitionSource::parse(key);
        let field = format!("partition_by[{i}]");
        if !seen_keys.insert(key.clone()) {
            problems.add(&field, format!("{key:?} is listed twice"), "list each partition key once");
        }
        match &source {
            PartitionSource::Location if def.locations.is_empty() => problems.add(
                &field,
                "partitioning by location needs location rules, and `locations` is empty".into(),
                "add `locations:` entries with a name and a key pattern, or drop `location` from partition_by",
            ),
            PartitionSource::Column(name) => match columns.iter().find(|c| &c.name == name) {
                Some(column) if column.data_type == ColumnType::String => {}
                Some(_) => problems.add(
                    &field,
                    format!("column {name:?} is not a string column"),
                    "partition by a string column, or by location/year/month/day/hour",
                ),
                None => problems.add(
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
        if PARTITION_KEYWORDS.contains(&column.name.as_str()) && seen_keys.contains(&column.name) {
            problems.add(&format!("columns[{i}].name"), format!("{:?} is also a partition key", column.name), "rename the column");
        }
    }
    partition_by
}

fn compile_checks(def: &PipelineDefinition, columns: &[MappedColumn], problems: &mut Problems<'_>) -> Vec<Check> {
    let time_name = def.time.name.as_str();
    let mut checks = Vec::new();
    for (i, check) in def.checks.iter().enumerate() {
        let origin = format!("checks[{i}]");
        match (check.kind.needs_bound(), check.value) {
            (true, None) => {
                problems.add(&format!("{origin}.value"), format!("{} needs a bound", kind_name(check.kind)), "add `value: <number>`")
            }
            (false, Some(_)) => {
                problems.add(&format!("{origin}.value"), format!("{} takes no value", kind_name(check.kind)), "remove `value`")
            }
            (true, Some(v)) if !v.is_finite() => {
                problems.add(&format!("{origin}.value"), "the bound is not a finite number".into(), "use a finite number")
            }
            _ => {}
        }
        if check.columns.is_empty() {
            problems.add(
                &format!("{origin}.columns"),
                "no column is named".into(),
                &format!("list output column names, `{time_name}`, or \"*\" for every data column"),
            );
        }
        for (j, column) in check.columns.iter().enumerate() {
            let target = match column.as_str() {
                "*" => CheckTarget::AllData,
                name if name == time_name => CheckTarget::Time,
                name => CheckTarget::Column(name.to_owned()),
            };
            check_target(check, &target, def, columns, &format!("{origin}.columns[{j}]"), problems);
            if matches!(check.action, CheckAction::Remove) && target == CheckTarget::Time {
                problems.add(
                    &format!("{origin}.action"),
                    "a row cannot keep going without its time".into(),
                    &format!("use reject or fail for checks on `{time_name}`"),
                );
            }
            checks.push(Check { kind: check.kind, target, value: check.value, action: check.action, origin: origin.clone() });
        }
    }
    checks
}

/// Whether a check can apply to one of the columns it names.
fn check_target(
    check: &CheckConfig,
    target: &CheckTarget,
    def: &PipelineDefinition,
    columns: &[MappedColumn],
    field: &str,
    problems: &mut Problems<'_>,
) {
    let time_name = def.time.name.as_str();
    let needs_value = check.kind.needs_bound();
    let time_only = matches!(check.kind, CheckKind::Monotonic | CheckKind::DuplicateTime);
    if time_only && *target != CheckTarget::Time {
        problems.add(field, format!("{} applies to `{time_name}` only", kind_name(check.kind)), &format!("use `columns: [{time_name}]`"));
    }
    if *target == CheckTarget::Time && needs_value {
        problems.add(
            field,
            format!("{} is a numeric bound and `{time_name}` is a time", kind_name(check.kind)),
            "bound a data column instead",
        );
    }
    let CheckTarget::Column(name) = target else { return };
    if !names::is_snake_case(name) {
        problems.add(
            field,
            format!("{name:?} is not an output column name (those are snake_case)"),
            &format!("use {:?}", names::snake_case(name)),
        );
    } else if def.unmapped_columns != UnmappedColumns::Infer && !columns.iter().any(|c| &c.name == name) {
        problems.add(field, format!("{name:?} is not a mapped column"), "name a column from `columns`, or set unmapped_columns: infer");
    }
    if needs_value && columns.iter().any(|c| &c.name == name && matches!(c.data_type, ColumnType::String | ColumnType::Boolean)) {
        problems.add(field, format!("{name:?} is not numeric, so it has no min or max"), "bound a float64 or int64 column");
    }
}

fn check_output(output: &OutputConfig, problems: &mut Problems<'_>) {
    if output.target_file_mib == 0 {
        problems.add("output.target_file_mib", "must be at least 1".into(), "use a size in MiB such as 128");
    }
    if output.row_group_rows == 0 {
        problems.add("output.row_group_rows", "must be at least 1".into(), "use a row count such as 122880");
    }
}

fn compile_alarms(config: &AlarmConfig, problems: &mut Problems<'_>) -> Alarms {
    let max_reject_share = config.max_reject_share.filter(|share| {
        let valid = (0.0..=1.0).contains(share);
        if !valid {
            problems.add("alarms.max_reject_share", format!("{share} is not a share from 0 to 1"), "write 0.05 for 5 %");
        }
        valid
    });
    let expected_every = config.expected_every.as_deref().and_then(|text| match parse_interval(text) {
        Ok(interval) => Some(interval),
        Err(problem) => {
            problems.add("alarms.expected_every", problem, "write minutes, hours or days from 5m to 7d, such as 90m, 6h or 1d");
            None
        }
    });
    Alarms { max_reject_share, expected_every }
}

/// `90m`, `6h`, `1d`: whole minutes, which CloudWatch's alarm periods need,
/// up to the seven days an alarm can look back.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = text.trim().split_at(text.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(text.trim().len()));
    let minutes_per_unit = match unit {
        "m" => 1,
        "h" => 60,
        "d" => 24 * 60,
        _ => return Err(format!("{text:?} has no unit m, h or d")),
    };
    let minutes = number.parse::<u64>().map_err(|_| format!("{text:?} does not start with a whole number"))? * minutes_per_unit;
    if !(5..=7 * 24 * 60).contains(&minutes) {
        return Err(format!("{text:?} is outside 5m to 7d"));
    }
    Ok(std::time::Duration::from_secs(minutes * 60))
}
