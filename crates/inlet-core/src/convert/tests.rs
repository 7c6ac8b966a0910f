use std::fs::File;

use arrow_array::{Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::sink::max_open_files;
use super::*;
use crate::pipeline::Pipeline;

fn pipeline(yaml: &str) -> Pipeline {
    Pipeline::from_yaml("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// A target for `p`'s rows from `s3://i/x`, with the default settings.
fn target_for(p: &Pipeline) -> ConvertTarget<'_> {
    ConvertTarget {
        pipeline: p,
        table: "t",
        location: None,
        source_uri: "s3://i/x",
        correlation_id: "c0ffee",
        memory_budget_bytes: DEFAULT_MEMORY_BUDGET,
        captures: &[],
        bytes_read: None,
    }
}

fn run(p: &Pipeline, location: Option<&str>, input: &[u8]) -> (Converted, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let target = ConvertTarget { location, source_uri: "s3://input/in/t.csv", ..target_for(p) };
    let converted = convert(&target, input, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    (converted, dir)
}

fn read(files: &[WrittenFile]) -> Vec<RecordBatch> {
    files
        .iter()
        .flat_map(|f| ParquetRecordBatchReaderBuilder::try_new(File::open(&f.path).unwrap()).unwrap().build().unwrap().map(Result::unwrap))
        .collect()
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_any().downcast_ref::<T>().unwrap()
}

const SENSOR: &str = r#"
name: sensor
triggers: ['sensor.*\.csv$']
table: t
time: { column: When, format: '%Y-%m-%d %H:%M:%S' }
columns:
  - { source: Site, name: site, type: string }
  - { source: Count, type: int64 }
checks:
  - { check: missing, columns: ['*'], action: flag }
  - { check: fail_max, columns: [temperature], value: 50, action: flag }
  - { check: fail_min, columns: [temperature], value: -40, action: reject }
partition_by: [year, month]
"#;

#[test]
fn bom_crlf_quoted_newlines_and_junk_are_handled_row_by_row() {
    let p = pipeline(SENSOR);
    let input = "\u{feff}When,Site,Temperature (C),Count\r\n\
        2020-12-01 00:00:00,\"North\r\nGate\",12.5,3\r\n\
        2020-12-01 00:10:00,South,,4\r\n\
        2020-12-01 00:20:00,South,abc,5\r\n\
        not a time,South,1,6\r\n\
        2020-12-01 00:30:00,South,1\r\n\
        2021-01-01 00:00:00,East,99,7.0\r\n\
        2021-01-01 00:10:00,East,-60,8\r\n";
    let (c, _dir) = run(&p, None, input.as_bytes());
    assert_eq!(c.counts, RowCounts { rows_in: 7, rows_out: 3, rows_rejected: 4, values_flagged: 2 });

    // The header's BOM did not stick to the first column name, and units left the name.
    let names: Vec<_> = c.data.schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["time", "site", "temperature", "count", "qc_site", "qc_temperature", "qc_count"]);
    assert_eq!(c.data.schema.field(2).metadata().get(UNITS_KEY).map(String::as_str), Some("C"));

    let partitions: Vec<_> = c.data.files.iter().map(|f| f.partition.path()).collect();
    assert_eq!(partitions, ["year=2020/month=12", "year=2021/month=01"]);

    let batches = read(&c.data.files);
    let dec = &batches[0];
    assert_eq!(column::<StringArray>(dec, "site").value(0), "North\r\nGate");
    assert!(column::<Float64Array>(dec, "temperature").is_null(1));
    assert_eq!(column::<Int32Array>(dec, "qc_temperature").values(), &[0, 1]);
    let jan = &batches[1];
    assert_eq!(column::<Int64Array>(jan, "count").value(0), 7, "7.0 is a whole number");
    assert_eq!(column::<Int32Array>(jan, "qc_temperature").value(0), 4, "fail_max is bit 3");

    let rejects = read(&c.rejects.files);
    let checks: Vec<_> = (0..4).map(|i| column::<StringArray>(&rejects[0], "check_name").value(i).to_owned()).collect();
    assert_eq!(checks, ["type", "type", "shape", "fail_min"]);
    let lines = column::<Int64Array>(&rejects[0], "line");
    assert_eq!(lines.values(), &[5, 6, 7, 9], "lines count the quoted newline");
    let reason = column::<StringArray>(&rejects[0], "reason");
    assert!(reason.value(0).contains("\"abc\" is not a number"), "{}", reason.value(0));
    assert!(reason.value(1).contains("does not match the time format"));
    assert!(reason.value(2).contains("expected 4 fields, found 3"));
    assert!(reason.value(3).contains("-60 is below the fail_min of -40"));
    assert_eq!(column::<StringArray>(&rejects[0], "record").value(3), "2021-01-01 00:10:00,East,-60,8");
}

#[test]
fn timestamps_are_utc_milliseconds_converted_from_the_source_zone() {
    let p = pipeline(
        r#"
name: eod
triggers: ['x']
table: t
reader: { header: false, column_names: [ticker, date, close], delimiter: ';' }
time: { column: date, format: '%Y%m%d', timezone: Australia/Sydney }
columns: [{ source: ticker, type: string }]
"#,
    );
    let (c, _dir) = run(&p, None, b"BHP;20201201;45.1\nCBA;20201201;80\n");
    assert_eq!(c.counts.rows_out, 2);
    let batch = &read(&c.data.files)[0];
    let time = column::<TimestampMillisecondArray>(batch, "time");
    assert_eq!(time.timezone(), Some("UTC"));
    assert_eq!(time.value(0), 1_606_741_200_000, "midnight in Sydney is 13:00 UTC the day before");
    // Partitioned by the Sydney date, not the UTC one.
    assert_eq!(c.data.files[0].partition.path(), "year=2020/month=12");
}

#[test]
fn time_order_checks_reject_or_fail_with_the_line() {
    let yaml = |action: &str| {
        format!(
            "name: s\ntriggers: ['x']\ntable: t\ntime: {{ column: t, format: '%Y-%m-%d %H:%M:%S' }}\nchecks:\n  - {{ check: monotonic, columns: [time], action: {action} }}\n  - {{ check: duplicate_time, columns: [time], action: {action} }}\n"
        )
    };
    let input = b"t,v\n2020-01-01 00:00:02,1\n2020-01-01 00:00:02,2\n2020-01-01 00:00:01,3\n2020-01-01 00:00:03,4\n";
    let (c, _dir) = run(&pipeline(&yaml("reject")), None, input);
    assert_eq!((c.counts.rows_out, c.counts.rows_rejected), (2, 2));
    let rejects = read(&c.rejects.files);
    assert_eq!(column::<StringArray>(&rejects[0], "check_name").value(0), "duplicate_time");
    assert_eq!(column::<StringArray>(&rejects[0], "check_name").value(1), "monotonic");

    let p = pipeline(&yaml("fail"));
    let dir = tempfile::tempdir().unwrap();
    let target = target_for(&p);
    let err = convert(&target, &input[..], dir.path()).unwrap_err();
    assert_eq!(err.line(), Some(3));
    let text = err.to_string();
    assert!(text.contains("check duplicate_time on column time failed at line 3"), "{text}");
    assert!(text.contains("checks[1]"), "{text}");
}

#[test]
fn header_problems_name_the_column_and_the_fix() {
    let p = pipeline(
        "name: s\ntriggers: ['x']\ntable: t\ntime: { column: ts, format: '%Y-%m-%d' }\nunmapped_columns: fail\ncolumns: [{ source: a }]\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let target = target_for(&p);
    let err = convert(&target, &b"ts,a,surprise\n2020-01-01,1,2\n"[..], dir.path()).unwrap_err().to_string();
    assert!(err.contains("column \"surprise\" is not described"), "{err}");
    assert!(err.contains("add it to `columns` in test.yaml"), "{err}");
    let err = convert(&target, &b"when,a\n2020-01-01,1\n"[..], dir.path()).unwrap_err().to_string();
    assert!(err.contains("the time column \"ts\" is not in the header"), "{err}");
}

#[test]
fn an_empty_file_is_zero_rows_not_an_error() {
    let (c, _dir) = run(&pipeline(SENSOR), None, b"");
    assert_eq!(c.counts, RowCounts::default());
    assert!(c.data.files.is_empty() && c.rejects.files.is_empty());
    assert_eq!(c.content_sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

#[test]
fn invalid_utf8_rejects_the_row_only() {
    let (c, _dir) =
        run(&pipeline(SENSOR), None, b"When,Site,Temperature (C),Count\n2020-12-01 00:00:00,\xff\xfe,1,1\n2020-12-01 00:01:00,ok,1,1\n");
    assert_eq!((c.counts.rows_out, c.counts.rows_rejected), (1, 1));
    assert_eq!(column::<StringArray>(&read(&c.rejects.files)[0], "check_name").value(0), "encoding");
}

#[test]
fn a_character_split_across_two_fields_is_not_valid_text() {
    // The two fields end to end would read "é1", yet neither is UTF-8.
    let (c, _dir) = run(&pipeline(SENSOR), None, b"When,Site,Temperature (C),Count\n2020-12-01 00:00:00,\xc3,\xa91,1\n");
    assert_eq!((c.counts.rows_out, c.counts.rows_rejected), (0, 1));
    let rejects = &read(&c.rejects.files)[0];
    assert_eq!(column::<StringArray>(rejects, "check_name").value(0), "encoding");
    assert_eq!(column::<StringArray>(rejects, "column_name").value(0), "Site", "the source column at fault");
}

#[test]
fn files_rotate_by_size_and_every_row_survives() {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, true)]));
    let dir = tempfile::tempdir().unwrap();
    let options = SinkOptions {
        compression: crate::pipeline::Compression::Snappy,
        target_file_bytes: 64 << 10,
        row_group_rows: 1000,
        memory_budget_bytes: 1 << 20,
        metadata: vec![],
    };
    let mut writer = PartitionedWriter::new(schema, vec!["p".into()], options, dir.path(), "x");
    let rows = 50_000u64;
    for start in (0..rows).step_by(1000) {
        // Distinct values defeat dictionary encoding, so files grow.
        let values: StringArray =
            (start..start + 1000).map(|i| Some(format!("{i:08}-{}", i.wrapping_mul(2_654_435_761) % 1_000_003))).collect();
        let ids = (start..start + 1000).map(|i| writer.partition_id(&[format!("{}", i % 2)])).collect();
        writer.write(RecordBatch::try_new(Arc::clone(writer.schema()), vec![Arc::new(values)]).unwrap(), ids).unwrap();
    }
    let files = writer.finish().unwrap();
    assert!(files.len() > 2, "expected several chunks, got {}", files.len());
    assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), rows);
    let read_back: usize = read(&files).iter().map(RecordBatch::num_rows).sum();
    assert_eq!(read_back as u64, rows);
    // Chunks count up within each partition.
    let p0: Vec<u32> = files.iter().filter(|f| f.partition.pairs()[0].1 == "0").map(|f| f.chunk).collect();
    assert_eq!(p0, (0..p0.len() as u32).collect::<Vec<_>>());
}

/// Writes rows `0..rows`, row `i` to partition `partition_of(i)`, and returns
/// the files' (partition, chunk, rows), after checking that every row is in
/// them once and that nothing else is left in the work directory.
fn spread(rows: u64, budget: usize, partition_of: impl Fn(u64) -> u64) -> Vec<(String, u32, u64)> {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
    let dir = tempfile::tempdir().unwrap();
    let options = SinkOptions {
        compression: crate::pipeline::Compression::Snappy,
        target_file_bytes: 128 << 20,
        row_group_rows: 100_000,
        memory_budget_bytes: budget,
        metadata: vec![],
    };
    let mut writer = PartitionedWriter::new(schema, vec!["p".into()], options, dir.path(), "x");
    for start in (0..rows).step_by(1000) {
        let end = rows.min(start + 1000);
        let values = Int64Array::from_iter_values((start..end).map(|i| i as i64));
        let ids = (start..end).map(|i| writer.partition_id(&[format!("{:04}", partition_of(i))])).collect();
        writer.write(RecordBatch::try_new(Arc::clone(writer.schema()), vec![Arc::new(values)]).unwrap(), ids).unwrap();
    }
    let files = writer.finish().unwrap();
    let mut values: Vec<i64> = read(&files).iter().flat_map(|b| column::<Int64Array>(b, "v").values().to_vec()).collect();
    values.sort_unstable();
    assert_eq!(values, (0..rows as i64).collect::<Vec<_>>(), "every row is in a file, once");
    let mut left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.retain(|name| !files.iter().any(|f| f.path.file_name() == Some(name)));
    assert!(left.is_empty(), "left in the work directory: {left:?}");
    files.iter().map(|f| (f.partition.path(), f.chunk, f.rows)).collect()
}

/// The chunks of each partition, which must count up from 0.
fn chunks_per_partition(files: &[(String, u32, u64)]) -> std::collections::BTreeMap<&str, u32> {
    let mut chunks = std::collections::BTreeMap::new();
    for (partition, chunk, _) in files {
        let next = chunks.entry(partition.as_str()).or_insert(0);
        assert_eq!(*chunk, *next, "{partition}: chunks count up from 0 in file order");
        *next += 1;
    }
    chunks
}

#[test]
fn a_thousand_partitions_in_no_order_are_set_aside_by_bucket_and_get_two_files_each() {
    // 1,000 partitions over 128 buckets is 8 a bucket, under this budget's cap.
    let budget = 16 << 20;
    assert!(max_open_files(budget) < 1000 && max_open_files(budget) >= 1000_usize.div_ceil(spill::BUCKETS));
    let round_robin = |i: u64| i % 1000;
    let files = spread(200_000, budget, round_robin);
    let chunks = chunks_per_partition(&files);
    assert_eq!(chunks.len(), 1000);
    // Row by row, each partition would get a file per batch it appears in:
    // 200 here. Its first file is from before the disorder showed; the rest
    // of its rows come back from its bucket as one file.
    assert!(chunks.values().all(|n| *n <= 2), "{:?}", chunks.values().max());
    assert_eq!(files, spread(200_000, budget, round_robin), "the same input writes the same files");
}

#[test]
fn partitions_beyond_the_open_file_cap_that_come_in_runs_are_never_set_aside() {
    let budget = 4 << 20;
    assert!(max_open_files(budget) < 1000);
    let files = spread(200_000, budget, |i| i / 200);
    assert_eq!(files.len(), 1000, "one file per partition");
}

#[test]
fn more_partitions_to_a_bucket_than_files_may_be_open_still_lose_no_row() {
    let budget = 4 << 20;
    let partitions = 40 * spill::BUCKETS as u64;
    assert!(partitions / spill::BUCKETS as u64 > max_open_files(budget) as u64);
    let files = spread(100_000, budget, |i| (i * 7919) % partitions);
    assert_eq!(chunks_per_partition(&files).len() as u64, partitions);
}

#[test]
fn a_named_group_of_the_trigger_that_columns_map_becomes_a_constant_column() {
    let p = pipeline(
        r#"
name: stations
triggers: ['(?P<station>[a-z]+)_\d{4}\.csv$']
table: t
time: { column: t, format: '%Y-%m-%d' }
columns:
  - { source: station, type: string }
  - { source: v, type: float64 }
"#,
    );
    let captures = p.captures_for("in/humboldt_2020.csv");
    assert_eq!(captures, [("station".to_owned(), "humboldt".to_owned())]);
    let dir = tempfile::tempdir().unwrap();
    let target = ConvertTarget { source_uri: "s3://i/in/humboldt_2020.csv", captures: &captures, ..target_for(&p) };
    let c = convert(&target, &b"t,v\n2020-01-01,1.5\n2020-01-02,2.5\n"[..], dir.path()).unwrap();
    let batch = &read(&c.data.files)[0];
    let station = column::<StringArray>(batch, "station");
    assert_eq!((station.value(0), station.value(1)), ("humboldt", "humboldt"));
    assert_eq!(column::<Float64Array>(batch, "v").values(), &[1.5, 2.5]);
}

#[test]
fn the_bytes_read_are_counted_for_progress_reports() {
    let p = pipeline(SENSOR);
    let input = "When,Site,Temperature (C),Count\n2020-12-01 00:00:00,North,12.5,3\n";
    let counter = std::sync::atomic::AtomicU64::new(0);
    let dir = tempfile::tempdir().unwrap();
    let target = ConvertTarget { bytes_read: Some(&counter), ..target_for(&p) };
    convert(&target, input.as_bytes(), dir.path()).unwrap();
    assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), input.len() as u64);
}

#[test]
fn time_order_holds_across_batch_boundaries() {
    let p = pipeline(
        "name: s\ntriggers: ['x']\ntable: t\ntime: { column: t, format: epoch_seconds }\nchecks:\n  - { check: monotonic, columns: [time], action: reject }\n  - { check: duplicate_time, columns: [time], action: flag }\n",
    );
    // Rows 1..=20000 climb by one second, but every 5000th goes back, and
    // every row after a batch's worth of rows repeats the one before it.
    let mut input = String::from("t,v\n");
    let mut expected_back = 0;
    for row in 1..=20_000u64 {
        let time = if row % 5000 == 0 {
            expected_back += 1;
            0
        } else {
            row
        };
        input.push_str(&format!("{time},{row}\n"));
        if row == read::MAX_BATCH_ROWS as u64 {
            input.push_str(&format!("{row},{row}\n"));
        }
    }
    let (c, _dir) = run(&p, None, input.as_bytes());
    assert_eq!(c.counts.rows_rejected, expected_back, "each step back is rejected, wherever a batch ends");
    assert_eq!(c.counts.rows_out, 20_001 - expected_back);
    assert_eq!(c.counts.values_flagged, 1, "the repeated time right after a batch boundary is flagged");
    let lines: Vec<i64> = read(&c.rejects.files).iter().flat_map(|b| column::<Int64Array>(b, "line").values().to_vec()).collect();
    assert_eq!(lines, [5001, 10002, 15002, 20002]);
}

#[test]
fn remove_hides_a_value_from_the_table_and_from_later_checks() {
    let p = pipeline(
        "name: s\ntriggers: ['x']\ntable: t\ntime: { column: t, format: epoch_seconds }\ncolumns: [{ source: v, type: int64 }]\nchecks:\n  - { check: fail_max, columns: [v], value: 10, action: remove }\n  - { check: missing, columns: [v], action: flag }\n",
    );
    let (c, _dir) = run(&p, None, b"t,v\n1,5\n2,50\n3,\n");
    let batch = &read(&c.data.files)[0];
    let v = column::<Int64Array>(batch, "v");
    assert_eq!((v.value(0), v.is_null(1), v.is_null(2)), (5, true, true));
    assert_eq!(column::<Int32Array>(batch, "qc_v").values(), &[0, 4 | 1, 1], "removed, then missing");
}

#[test]
fn the_first_line_to_fail_names_the_error_whichever_check_it_is() {
    let p = pipeline(
        "name: s\ntriggers: ['x']\ntable: t\nreader: { on_bad_value: fail }\ntime: { column: t, format: epoch_seconds }\ncolumns: [{ source: v, type: float64 }]\nchecks:\n  - { check: fail_max, columns: [v], value: 10, action: fail }\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let target = target_for(&p);
    // Line 3 breaks the bound, line 4 is no number: the bound's error comes first.
    let err = convert(&target, &b"t,v\n1,5\n2,50\n3,abc\n"[..], dir.path()).unwrap_err();
    assert_eq!(err.line(), Some(3), "{err}");
    assert!(err.to_string().contains("fail_max"), "{err}");
    let err = convert(&target, &b"t,v\n1,5\n2,abc\n3,50\n"[..], dir.path()).unwrap_err();
    assert_eq!(err.line(), Some(3), "{err}");
    assert!(matches!(err, ConvertError::BadValue { .. }), "{err}");
}

#[test]
fn a_five_megabyte_line_is_one_value() {
    let p = pipeline(SENSOR);
    let long = "x".repeat(5 << 20);
    let input = format!("When,Site,Temperature (C),Count\n2020-12-01 00:00:00,{long},1,1\n2020-12-01 00:01:00,short,2,2\n");
    let (c, _dir) = run(&p, None, input.as_bytes());
    assert_eq!(c.counts.rows_out, 2);
    let sites: Vec<usize> = read(&c.data.files)
        .iter()
        .flat_map(|b| column::<StringArray>(b, "site").iter().map(|s| s.unwrap().len()).collect::<Vec<_>>())
        .collect();
    assert_eq!(sites, [5 << 20, 5]);
}

#[test]
fn a_work_directory_that_cannot_take_files_fails_the_conversion_and_names_the_file() {
    let p = pipeline(SENSOR);
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("removed");
    let input = b"When,Site,Temperature (C),Count\n2020-12-01 00:00:00,a,1,1\n";
    let err = convert(&target_for(&p), &input[..], &gone).unwrap_err();
    assert!(matches!(err, ConvertError::Sink(SinkError::Disk(_))), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&gone.display().to_string()) && message.contains("must exist, be writable and have room"), "{message}");
}

#[test]
fn rows_are_grouped_by_partition_in_the_order_partitions_first_appear() {
    use super::sink::group_rows;
    assert_eq!(group_rows(&[]), vec![]);
    assert_eq!(group_rows(&[4, 4, 1, 1, 4, 9, 1]), vec![(4, vec![0, 1, 4]), (1, vec![2, 3, 6]), (9, vec![5])]);
    let ids: Vec<usize> = (0..10_000).map(|row| (row * 7919) % 613).collect();
    let groups = group_rows(&ids);
    assert_eq!(groups.len(), 613);
    assert_eq!(groups.iter().map(|(_, rows)| rows.len()).sum::<usize>(), ids.len());
    for (id, rows) in groups {
        assert!(rows.iter().all(|row| ids[*row as usize] == id) && rows.windows(2).all(|w| w[0] < w[1]));
    }
}

#[test]
fn rows_kept_together_by_partition_are_written_as_ranges_that_are_their_groups() {
    use super::sink::{contiguous_runs, group_rows};
    let as_groups = |runs: Vec<(usize, std::ops::Range<usize>)>| -> Vec<(usize, Vec<u32>)> {
        runs.into_iter().map(|(id, rows)| (id, rows.map(|row| row as u32).collect())).collect()
    };
    for ids in [vec![], vec![3], vec![3, 3, 3], vec![3, 3, 0, 0, 0, 7], (0..16).collect::<Vec<usize>>()] {
        assert_eq!(contiguous_runs(&ids).map(as_groups), Some(group_rows(&ids)), "{ids:?}");
    }
    // A partition that comes back, or more partitions than slices pay for.
    assert_eq!(contiguous_runs(&[4, 4, 1, 4]), None);
    assert_eq!(contiguous_runs(&(0..17).collect::<Vec<usize>>()), None);
}

#[test]
fn text_whole_numbers_and_times_get_dictionaries_and_floats_and_quality_bits_are_plain() {
    use parquet::basic::Encoding;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let p = pipeline(SENSOR);
    let input = "When,Site,Temperature (C),Count\n2020-12-01 00:00:00,North,12.5,3\n2020-12-01 00:10:00,North,,3\n";
    let (c, _dir) = run(&p, None, input.as_bytes());
    let file = SerializedFileReader::new(File::open(&c.data.files[0].path).unwrap()).unwrap();
    let row_group = file.metadata().row_group(0);
    let dictionary: Vec<(String, bool)> = row_group
        .columns()
        .iter()
        .map(|column| (column.column_path().string(), column.encodings().any(|e| e == Encoding::RLE_DICTIONARY)))
        .collect();
    let expected = [
        ("time", true),
        ("site", true),
        ("temperature", false),
        ("count", true),
        ("qc_site", false),
        ("qc_temperature", false),
        ("qc_count", false),
    ];
    assert_eq!(dictionary, expected.map(|(name, dictionary)| (name.to_owned(), dictionary)));
}
