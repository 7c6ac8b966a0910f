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
    #[serde(default, deserialize_with = "reader_or_csv")]
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

    /// When the deployed stack alerts on this pipeline (its alerts topic).
    #[serde(default, skip_serializing_if = "AlarmConfig::is_unset")]
    pub alarms: AlarmConfig,
}

/// Alarms on a pipeline's metrics, each off unless set. Every input, every
/// failed or rejected row and every function error alarms already; these
/// say what is normal for this source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// Alarm when more than this share of an hour's rows is rejected, from 0
    /// to 1: `0.05` is 5 %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_reject_share: Option<f64>,

    /// Alarm when no file has arrived for this long: minutes, hours or days
    /// (`90m`, `6h`, `1d`), from `5m` to `7d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_every: Option<String>,
}

impl AlarmConfig {
    fn is_unset(&self) -> bool {
        *self == Self::default()
    }
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

/// How the file is parsed: `format` names the reader, and the other keys are
/// that reader's settings. Without `format`, the file is CSV.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum ReaderConfig {
    /// Delimited text.
    Csv(CsvConfig),
    /// An ESRI ASCII grid (`ncols`, `nrows`, `xllcorner`, ... then the rows
    /// of values, northern row first): one row per cell, with the cell
    /// centre's `longitude` and `latitude` and its `value`. NODATA cells are
    /// skipped.
    EsriGrid(GridConfig),
    /// JSON lines: one object per line. Nested objects flatten into columns
    /// named by their path joined with `__` (`sensor__id`); `columns` names
    /// the paths to read, with their types.
    JsonLines(JsonLinesConfig),
    /// XML: one row per document, or per `record_element`. Columns are
    /// element paths below the record, in snake_case joined with `__`
    /// (`coded_data_section__ref_ojs__date_pub`); an attribute adds its own
    /// name (`notice_data__original_cpv__code`). Namespace prefixes are
    /// dropped. A `.tar.gz`, `.tgz` or `.tar` package the pipeline's trigger
    /// takes is read member by member, each `.xml` member a document; a
    /// `.gz` is one gzipped document.
    Xml(XmlConfig),
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self::Csv(CsvConfig::default())
    }
}

impl ReaderConfig {
    /// Values that mean "no value", as written. A JSON `null`, or a field
    /// that is not there, reaches the engine as empty text.
    pub fn null_values(&self) -> Vec<String> {
        match self {
            Self::Csv(csv) => csv.null_values.clone(),
            Self::EsriGrid(_) => Vec::new(),
            Self::JsonLines(_) | Self::Xml(_) => vec![String::new()],
        }
    }

    pub fn on_bad_value(&self) -> BadValueAction {
        match self {
            Self::Csv(csv) => csv.on_bad_value,
            Self::EsriGrid(grid) => grid.on_bad_value,
            Self::JsonLines(json) => json.on_bad_value,
            Self::Xml(xml) => xml.on_bad_value,
        }
    }

    /// The columns every file of this format has, when the pipeline alone
    /// says; `None` when each file's header does.
    pub fn fixed_columns(&self) -> Option<Vec<String>> {
        match self {
            Self::Csv(csv) if csv.header => None,
            Self::Csv(csv) => Some(csv.column_names.clone()),
            Self::EsriGrid(_) => Some(GRID_COLUMNS.map(String::from).to_vec()),
            Self::JsonLines(_) | Self::Xml(_) => None,
        }
    }
}

/// Reads `reader:`, taking a mapping without `format` as CSV, as it was
/// before there were other formats.
pub(super) fn reader_or_csv<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<ReaderConfig, D::Error> {
    let mut value = serde_json::Value::deserialize(deserializer)?;
    if let Some(map) = value.as_object_mut() {
        map.entry("format").or_insert_with(|| "csv".into());
    }
    // The detour through a JSON value loses the YAML path, so the error
    // names the field as serde_yaml_ng would.
    ReaderConfig::deserialize(value).map_err(|e| serde::de::Error::custom(format!("reader: {e}")))
}

/// How delimited text is parsed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
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

    /// A header with more columns than this fails the file. Every column
    /// holds a builder and a Parquet column writer, so a runaway header (a
    /// file that is one enormous line, say) would otherwise take memory
    /// without bound.
    #[serde(default = "default_max_columns")]
    pub max_columns: usize,
}

/// Enough for wide sensor exports, and within the memory budget.
pub const DEFAULT_MAX_COLUMNS: usize = 1_000;

fn default_max_columns() -> usize {
    DEFAULT_MAX_COLUMNS
}

impl Default for CsvConfig {
    fn default() -> Self {
        Self {
            header: true,
            column_names: Vec::new(),
            delimiter: default_delimiter(),
            skip_lines: 0,
            null_values: default_null_values(),
            on_bad_value: BadValueAction::Reject,
            max_columns: DEFAULT_MAX_COLUMNS,
        }
    }
}

impl CsvConfig {
    /// The delimiter as the byte the parser splits on.
    pub fn delimiter_byte(&self) -> Result<u8, String> {
        match self.delimiter.as_bytes() {
            [b] if b.is_ascii() && *b != b'"' && *b != b'\n' && *b != b'\r' => Ok(*b),
            _ if self.delimiter == "\\t" => Ok(b'\t'),
            _ => Err(format!("{:?} is not one ASCII character", self.delimiter)),
        }
    }
}

/// How JSON lines are read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonLinesConfig {
    /// What becomes of fields `columns` does not name.
    #[serde(default)]
    pub unknown_fields: UnknownFields,

    /// What to do with a value that cannot be parsed as its column's type.
    #[serde(default)]
    pub on_bad_value: BadValueAction,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    /// Keep them whole, as one JSON object by flattened path, in a string
    /// column `extra`.
    #[default]
    Keep,
    /// Leave them out.
    Drop,
}

/// How XML is read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct XmlConfig {
    /// The element each row is made from, by its name without a namespace
    /// prefix (`notice`, `TED_EXPORT`), wherever it is in the document: a
    /// single large file of records is read one record at a time. Without
    /// it, the document's root is the record, so each file is one row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_element: Option<String>,

    /// What a path that occurs more than once in a record gives. A path
    /// without a rule gives its first occurrence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeated: Vec<RepeatedPath>,

    /// What to do with a value that cannot be parsed as its column's type.
    #[serde(default)]
    pub on_bad_value: BadValueAction,
}

/// The rule for one repeated path.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepeatedPath {
    /// A column's path (`coded_data_section__notice_data__original_cpv__code`),
    /// or, for `explode`, an element's path
    /// (`form_section__f03_2014__award_contract`).
    pub path: String,

    pub rule: RepeatRule,

    /// What joins the values, for `join`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepeatRule {
    /// The first occurrence.
    #[default]
    First,
    /// Every occurrence, in document order, joined by `separator` (`; `
    /// unless given).
    Join,
    /// One row per occurrence of the element: columns at or below its path
    /// take that occurrence's values, and the others repeat the record's.
    /// A record without it still makes one row. At most one path explodes.
    Explode,
}

/// The separator `join` uses unless one is given.
pub const DEFAULT_JOIN_SEPARATOR: &str = "; ";

/// The columns an ESRI grid gives each cell.
pub const GRID_COLUMNS: [&str; 3] = ["longitude", "latitude", "value"];

/// How an ESRI ASCII grid is read. The header gives the grid's shape, place
/// and NODATA value; a file whose body does not match its header fails whole.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// What to do with a cell whose value is not a number: `reject` sends
    /// that cell's row to the rejects table.
    #[serde(default)]
    pub on_bad_value: BadValueAction,
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

/// The column that dates each row: every table has one, first.
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

    /// An IANA timezone, for example `Australia/Sydney`: adds a `local_time`
    /// column, the wall-clock time there, stored as a timestamp without a
    /// time zone (Parquet `isAdjustedToUTC = false`). `time` stays UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_time: Option<String>,

    /// The time column's name in the table.
    #[serde(default = "default_time_name")]
    pub name: String,

    /// `timestamp` (UTC, to the millisecond) or `date` (a calendar day, for
    /// sources dated by day, such as a publication date).
    #[serde(default, rename = "type")]
    pub data_type: TimeType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeType {
    #[default]
    Timestamp,
    Date,
}

/// The time column's name unless `time.name` says otherwise.
pub const DEFAULT_TIME_COLUMN: &str = "time";

fn default_time_name() -> String {
    DEFAULT_TIME_COLUMN.into()
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
    let mut schema = serde_json::to_value(schemars::schema_for!(PipelineDefinition)).expect("a JSON Schema serializes");
    // `reader_or_csv` reads a reader without `format` as CSV.
    let csv = serde_json::Value::from("csv");
    if let Some(variants) = schema.pointer_mut("/$defs/ReaderConfig/oneOf").and_then(|v| v.as_array_mut()) {
        for variant in variants.iter_mut().filter(|v| v.pointer("/properties/format/const") == Some(&csv)) {
            if let Some(required) = variant.get_mut("required").and_then(|r| r.as_array_mut()) {
                required.retain(|field| field != "format");
            }
        }
    }
    schema
}
