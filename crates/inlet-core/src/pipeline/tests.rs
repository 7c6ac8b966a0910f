use super::*;

const MINIMAL: &str = r#"
name: demo
triggers: ['(^|/)demo_.*\.csv$']
table: demo
time: { column: ts, format: '%Y-%m-%d' }
"#;

fn errors_of(yaml: &str) -> Vec<ConfigError> {
    Pipeline::from_yaml("pipelines/demo/pipeline.yaml", yaml).expect_err("the definition should be refused").0
}

#[test]
fn a_minimal_definition_compiles_with_defaults() {
    let p = Pipeline::from_yaml("demo.yaml", MINIMAL).unwrap();
    assert_eq!(p.partition_keys(), ["year", "month"]);
    let ReaderConfig::Csv(csv) = &p.reader else { panic!("CSV is the default reader: {:?}", p.reader) };
    assert_eq!(csv.delimiter_byte(), Ok(b','));
    assert!(csv.header);
    assert!(p.null_values.contains(""));
    assert_eq!(p.output.compression, Compression::Snappy);
}

#[test]
fn the_shipped_pipelines_compile() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pipelines");
    let set = PipelineSet::load_dir(Path::new(root)).unwrap();
    let names: Vec<_> = set.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a2e_buoy_ingest", "asx_eod", "bom_radiation", "cyi_exports", "ted_notices"]);
}

#[test]
fn unknown_fields_name_the_field_and_list_the_allowed_ones() {
    let errors = errors_of(&MINIMAL.replace("triggers:", "tigers:"));
    assert_eq!(errors.len(), 1);
    let e = &errors[0];
    assert_eq!(e.file, "pipelines/demo/pipeline.yaml");
    assert!(e.problem.contains("unknown field `tigers`"), "{e}");
    assert!(e.problem.contains("triggers"), "the allowed fields are listed: {e}");
    assert!(e.fix.contains("remove or rename"));
}

#[test]
fn bad_enum_values_name_the_nested_field() {
    let yaml = format!("{MINIMAL}checks:\n  - {{ check: missing, columns: [x], action: flg }}\n");
    let e = &errors_of(&yaml)[0];
    assert_eq!(e.field, "checks[0].action");
    assert!(e.problem.contains("unknown variant `flg`"), "{e}");
    assert!(e.problem.contains("reject"), "the allowed values are listed: {e}");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let yaml = r#"
name: Demo
triggers: ['demo_(.*\.csv']
table: 'demo_{kind}'
locations: [{ name: 'a/b', pattern: 'x' }]
reader: { delimiter: ';;' }
time: { column: ts, format: '%H:%M', timezone: Sydney }
columns:
  - { source: A, name: Bad-Name }
  - { source: B, name: qc_b }
checks:
  - { check: fail_min, columns: [temperature] }
  - { check: monotonic, columns: [temperature], value: 3 }
partition_by: [location, year, year, station]
output: { target_file_mib: 0 }
"#;
    let errors = errors_of(yaml);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "name",
        "triggers[0]",
        "locations[0].name",
        "reader.delimiter",
        "time.timezone",
        "time.format",
        "columns[0].name",
        "columns[1].name",
        "checks[0].value",
        "checks[1].value",
        "checks[1].columns[0]",
        "partition_by[2]",
        "partition_by[3]",
        "output.target_file_mib",
    ] {
        assert!(fields.contains(&expected), "no error for {expected}; got {fields:?}");
    }
    let tz = errors.iter().find(|e| e.field == "time.timezone").unwrap();
    assert!(tz.fix.contains("Australia/Sydney"), "{tz}");
    // The rendered message carries file, field and fix together.
    let rendered = ConfigErrors(errors).to_string();
    assert!(rendered.contains("pipelines/demo/pipeline.yaml: `time.timezone`: \"Sydney\" is not a known timezone"));
    assert!(rendered.contains("fix: use an IANA name"));
}

#[test]
fn table_placeholders_must_be_trigger_groups() {
    let yaml = MINIMAL.replace("table: demo", "table: 'demo_{kind}'");
    let e = &errors_of(&yaml)[0];
    assert_eq!(e.field, "table");
    assert!(e.fix.contains("(?P<kind>...)"), "{e}");
}

#[test]
fn a_reader_without_a_format_is_csv_and_an_unknown_format_lists_the_known_ones() {
    let yaml = MINIMAL.replace("table: demo", "table: demo\nreader: { delimiter: ';' }");
    let p = Pipeline::from_yaml("demo.yaml", &yaml).unwrap();
    assert!(matches!(&p.reader, ReaderConfig::Csv(csv) if csv.delimiter_byte() == Ok(b';')));

    let e = &errors_of(&MINIMAL.replace("table: demo", "table: demo\nreader: { format: parquet }"))[0];
    assert_eq!(e.field, "reader", "{e}");
    assert!(e.problem.contains("unknown variant `parquet`") && e.problem.contains("esri_grid"), "{e}");
    let e = &errors_of(&MINIMAL.replace("table: demo", "table: demo\nreader: { format: esri_grid, delimiter: ';' }"))[0];
    assert!(e.problem.contains("unknown field `delimiter`"), "a grid has no delimiter: {e}");
}

const GRID: &str = r#"
name: grid
triggers: ['solar_(?P<kind>ghi|dni)_(?P<hour>\d{8}_\d{2})UT\.txt$']
table: grid
reader: { format: esri_grid }
time: { column: hour, format: '%Y%m%d_%H', local_time: Australia/Sydney }
columns: [{ source: kind, type: string }, { source: value }]
"#;

#[test]
fn a_grid_takes_its_time_from_the_name_and_knows_its_columns() {
    let p = Pipeline::from_yaml("grid.yaml", GRID).unwrap();
    assert_eq!(p.local_timezone, Some(chrono_tz::Australia::Sydney));
    assert_eq!(p.time.parse("20240115_03"), Ok(1_705_287_600_000));

    let e = &errors_of(&GRID.replace("source: value", "source: irradiance"))[0];
    assert_eq!(e.field, "columns[1].source");
    assert!(e.problem.contains("[\"longitude\", \"latitude\", \"value\"]"), "{e}");
    assert_eq!(errors_of(&GRID.replace("column: hour", "column: when"))[0].field, "time.column");
    assert_eq!(errors_of(&GRID.replace("local_time: Australia/Sydney", "local_time: Sydney"))[0].field, "time.local_time");
    let e = &errors_of(&GRID.replace("source: value", "source: value, name: local_time"))[0];
    assert!(e.problem.contains("used by more than one column"), "{e}");
}

#[test]
fn header_less_files_need_column_names() {
    let yaml = MINIMAL.replace("table: demo", "table: demo\nreader: { header: false }");
    assert_eq!(errors_of(&yaml)[0].field, "reader.column_names");
}

#[test]
fn buoy_keys_route_to_one_table_per_kind_and_location() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pipelines");
    let set = PipelineSet::load_dir(Path::new(root)).unwrap();
    let route = set.route("in/buoy.z05.00.20201201.000000/buoy.z05.00.20201201.000000.conductivity.csv").unwrap();
    assert_eq!(route.pipeline.name, "a2e_buoy_ingest");
    assert_eq!(route.table, "a2e_buoy_conductivity");
    assert_eq!(route.location.as_deref(), Some("humboldt"));
    let route = set.route("in/x/buoy.z06.00.20201201.000000.surfacetemp.csv").unwrap();
    assert_eq!((route.table.as_str(), route.location.as_deref()), ("a2e_buoy_surfacetemp", Some("morro")));

    assert_eq!(set.route("in/asx_eod_20201201.csv").unwrap().table, "asx_eod");
    assert_eq!(set.route("in/20201201.txt").unwrap().table, "asx_eod");

    assert!(matches!(set.route("in/notes.docx"), Err(RouteError::Unmatched { .. })));
    assert!(matches!(set.route("in/buoy.z07.00.20201201.000000.gps.csv"), Err(RouteError::NoLocation { .. })));
}

#[test]
fn overlapping_pipelines_are_reported_not_guessed() {
    let other = MINIMAL.replace("name: demo", "name: other");
    let set = PipelineSet::from_sources([("a.yaml", MINIMAL), ("b.yaml", other.as_str())]).unwrap();
    let err = set.route("in/demo_1.csv").unwrap_err();
    assert!(matches!(err, RouteError::Ambiguous { .. }), "{err}");
    assert!(err.to_string().contains("demo, other"));
}

#[test]
fn the_folder_name_must_match() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("wrong")).unwrap();
    std::fs::write(dir.path().join("wrong/pipeline.yaml"), MINIMAL).unwrap();
    let errors = PipelineSet::load_dir(dir.path()).unwrap_err().0;
    assert_eq!(errors[0].field, "name");
    assert!(errors[0].fix.contains("name: wrong"));
}

#[test]
fn the_embedded_pipelines_are_the_shipped_ones() {
    let embedded = PipelineSet::embedded().unwrap();
    let names: Vec<_> = embedded.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a2e_buoy_ingest", "asx_eod", "bom_radiation", "cyi_exports", "ted_notices"]);
}

const XML: &str = r#"
name: demo
triggers: ['(^|/)demo/.*\.xml$']
table: demo
reader:
  format: xml
  record_element: notice
  repeated:
    - { path: lots__lot, rule: explode }
    - { path: cpv__code, rule: join, separator: ";" }
time: { column: published, format: '%Y%m%d', name: date, type: date }
columns:
  - { source: id, type: string }
  - { source: cpv__code, type: string }
  - { source: lots__lot__value }
checks:
  - { check: missing, columns: [date], action: reject }
partition_by: [year]
"#;

#[test]
fn an_xml_pipeline_with_a_date_named_date_compiles() {
    let p = Pipeline::from_yaml("demo.yaml", XML).unwrap();
    assert_eq!((p.time_name.as_str(), p.time_type), ("date", TimeType::Date));
    assert_eq!(p.checks[0].target, CheckTarget::Time, "a check on the time column's name is a check on time");
    let ReaderConfig::Xml(xml) = &p.reader else { panic!("{:?}", p.reader) };
    assert_eq!(xml.record_element.as_deref(), Some("notice"));
}

#[test]
fn xml_rules_must_name_paths_that_columns_read_and_only_one_path_explodes() {
    let yaml = XML
        .replace(
            "{ path: cpv__code, rule: join, separator: \";\" }",
            "{ path: cpv, rule: join }\n    - { path: id, rule: explode }\n    - { path: cpv__code, rule: first, separator: \",\" }",
        )
        .replace("- { source: id, type: string }", "- { source: Id, type: string }");
    let fields: Vec<String> = errors_of(&yaml).into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        ["columns[0].source", "reader.repeated[1].path", "reader.repeated[2].path", "reader.repeated[3].separator", "reader.repeated"],
        "{:?}",
        errors_of(&yaml)
    );
}

#[test]
fn a_date_has_no_time_zone_wall_clock_or_hour() {
    let yaml = XML
        .replace("name: date, type: date }", "name: date, type: date, timezone: Europe/Brussels, local_time: Europe/Brussels }")
        .replace("partition_by: [year]", "partition_by: [year, hour]");
    let fields: Vec<String> = errors_of(&yaml).into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["time.timezone", "time.local_time", "partition_by"]);
    let errors = errors_of(&XML.replace("name: date,", "name: year,"));
    assert_eq!(errors[0].field, "time.name", "{errors:?}");
}

#[test]
fn alarms_are_off_unless_set_and_their_thresholds_are_checked() {
    assert_eq!(Pipeline::from_yaml("demo.yaml", MINIMAL).unwrap().alarms, Alarms::default());
    let set = format!("{MINIMAL}alarms: {{ max_reject_share: 0.05, expected_every: 6h }}\n");
    let alarms = Pipeline::from_yaml("demo.yaml", &set).unwrap().alarms;
    assert_eq!(alarms, Alarms { max_reject_share: Some(0.05), expected_every: Some(std::time::Duration::from_secs(6 * 3600)) });

    let wrong = format!("{MINIMAL}alarms: {{ max_reject_share: 5, expected_every: 2w }}\n");
    let fields: Vec<String> = errors_of(&wrong).into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["alarms.max_reject_share", "alarms.expected_every"]);
    for interval in ["4m", "8d", "h", "1.5h"] {
        let yaml = format!("{MINIMAL}alarms: {{ expected_every: '{interval}' }}\n");
        assert_eq!(errors_of(&yaml)[0].field, "alarms.expected_every", "{interval} is refused");
    }
}
