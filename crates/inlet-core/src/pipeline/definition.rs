//! The on-disk shape of `pipelines/<name>/pipeline.yaml`.
//!
//! These structs are only the syntax. [`super::Pipeline`] is the validated,
//! compiled form the engine runs. Doc comments here become the descriptions in
//! the published JSON Schema, so they are written for the person editing YAML.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One data source: which files it takes, how to read them, what to check and
/// where the rows go.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineDefinition {
    /// The pipeline's name. Must equal the folder name under `pipelines/`.
    pub name: String,

    /// What the source is, for people reading the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// Regular expressions matched against the object key (for example
    /// `in/buoy.z05.00.20201201.000000/buoy.z05.00.20201201.000000.wind.csv`).
    /// A file whose key matches any of them belongs to this pipeline. Named
    /// groups (`(?P<kind>...)`) can be used in `table`.
    pub triggers: Vec<String>,

    /// The output table's name, lowercase snake_case. `{group}` is replaced by
    /// the trigger's named capture group of that name.
    pub table: String,

    /// Location rules, tried in order against the key; the first that matches
    /// gives the `location` partition value. Required when `partition_by`
    /// has `location`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<LocationRule>,

    /// How the file is parsed.
    #[serde(default)]
    pub reader: ReaderConfig,

    /// The time column: every row gets a UTC `time` from it.
    pub time: TimeConfig,

    /// Source columns and what they become. Columns not listed here follow
    /// `unmapped_columns`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnMapping>,

    /// What to do with source columns that `columns` does not list.
    #[serde(default)]
    pub unmapped_columns: UnmappedColumns,

    /// Quality checks, applied to every row in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckConfig>,

    /// Hive partition keys, outermost first: `location`, `year`, `month`,
    /// `day`, `hour`, or the name of a string column.
    #[serde(default = "default_partition_by")]
    pub partition_by: Vec<String>,

    /// Parquet output settings.
    #[serde(default)]
    pub output: OutputConfig,
}

fn default_partition_by() -> Vec<String> {
    vec!["year".into(), "month".into()]
}

/// A location: a name and the key pattern that identifies it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationRule {
    /// The partition value, for example `humboldt`.
    pub name: String,
    /// A regular expression matched against the object key.
    pub pattern: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// Delimited text.
    #[default]
    Csv,
}

/// How delimited text is parsed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReaderConfig {
    #[serde(default)]
    pub format: InputFormat,

    /// Whether the first record names the columns.
    #[serde(default = "yes")]
    pub header: bool,

    /// The names of the columns of a file without a header, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_names: Vec<String>,

    /// The field delimiter: one ASCII character, for example `,`, `;`, `|` or `\t`.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,

    /// Lines to skip before the header (or the first record).
    #[serde(default)]
    pub skip_lines: usize,

    /// Values that mean "no value". Compared after trimming spaces.
    #[serde(default = "default_null_values")]
    pub null_values: Vec<String>,

    /// What to do with a value that cannot be parsed as its column's type.
    #[serde(default)]
    pub on_bad_value: BadValueAction,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            format: InputFormat::Csv,
            header: true,
            column_names: Vec::new(),
            delimiter: default_delimiter(),
            skip_lines: 0,
            null_values: default_null_values(),
            on_bad_value: BadValueAction::Reject,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_delimiter() -> String {
    ",".into()
}

fn default_null_values() -> Vec<String> {
    ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"].map(String::from).to_vec()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BadValueAction {
    /// Send the row to the rejects table (check `type`).
    #[default]
    Reject,
    /// Keep the row with the value missing.
    Null,
    /// Fail the whole file.
    Fail,
}

/// The column that dates each row.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    /// The source column's name (its header, or its `reader.column_names` entry).
    pub column: String,

    /// A chrono format, for example `%Y-%m-%d %H:%M:%S` or `%Y%m%d` for a date.
    /// `epoch_seconds` and `epoch_millis` read numbers; `rfc3339` reads
    /// timestamps with an offset.
    pub format: String,

    /// The IANA timezone the source values are in, for example
    /// `Australia/Sydney`. Values are stored in UTC.
    #[serde(default = "utc")]
    pub timezone: String,

    /// The timezone in which `year`/`month`/`day`/`hour` partitions are cut.
    /// Defaults to `timezone`, so a trading day stays in its own partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_timezone: Option<String>,
}

fn utc() -> String {
    "UTC".into()
}

/// One source column and what it becomes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    /// The source column's name, exactly as in the header.
    pub source: String,

    /// The output name, lowercase snake_case. Defaults to the source name in
    /// snake_case, without a trailing `(units)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// The output type.
    #[serde(default, rename = "type")]
    pub data_type: ColumnType,

    /// Units, kept in the catalog. Defaults to a trailing `(units)` in the source name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,

    /// What the column means, kept in the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    #[default]
    Float64,
    Int64,
    String,
    Boolean,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnmappedColumns {
    /// Keep them as float64, named by snake_case of the header, with units taken
    /// from a trailing `(units)`.
    #[default]
    Infer,
    /// Drop them.
    Ignore,
    /// Fail the file: the source has columns nobody described.
    Fail,
}

/// A quality check on one or more columns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    #[serde(rename = "check")]
    pub kind: CheckKind,

    /// Output column names, `time`, or `*` for every data column.
    pub columns: Vec<String>,

    /// The bound, for the min/max checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,

    /// What a failing value does.
    #[serde(default)]
    pub action: CheckAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The value is absent (empty or a null value). QC bit 1.
    Missing,
    /// The value is below `value`. QC bit 2.
    FailMin,
    /// The value is above `value`. QC bit 3.
    FailMax,
    /// The value is below `value`. QC bit 4.
    WarnMin,
    /// The value is above `value`. QC bit 5.
    WarnMax,
    /// Time goes backwards from the previous row. Only on `time`. QC bit 6.
    Monotonic,
    /// Time repeats the previous row's. Only on `time`. QC bit 7.
    DuplicateTime,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckAction {
    /// Keep the row and set the check's bit in `qc_<column>`.
    #[default]
    Flag,
    /// Keep the row, drop the value, and set the check's bit in `qc_<column>`.
    Remove,
    /// Send the row to `<table>_rejects` with the check's name.
    Reject,
    /// Fail the whole file.
    Fail,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Snappy,
    Zstd,
}

/// Parquet output settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    #[serde(default)]
    pub compression: Compression,

    /// A new file is started in a partition once its file reaches this many MiB.
    #[serde(default = "default_target_file_mib")]
    pub target_file_mib: u64,

    /// Rows per Parquet row group, at most.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self { compression: Compression::Snappy, target_file_mib: default_target_file_mib(), row_group_rows: default_row_group_rows() }
    }
}

fn default_target_file_mib() -> u64 {
    128
}

fn default_row_group_rows() -> usize {
    122_880
}

/// The JSON Schema editors use to check `pipeline.yaml` as it is typed.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(PipelineDefinition);
    serde_json::to_value(schema).expect("a JSON Schema serializes")
}
