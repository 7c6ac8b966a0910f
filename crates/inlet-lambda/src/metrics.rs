//! Per-input metrics as CloudWatch embedded-metric-format log lines: Lambda
//! ships stdout to CloudWatch Logs, which turns each such line into metric
//! points, with no client, no permission and no call on the data path.

use inlet_contract::metrics::{FILES_ARRIVED, NAMESPACE, PIPELINE_DIMENSION, ROWS_READ, ROWS_REJECTED};
use inlet_core::Outcome;
use serde_json::{Value, json};

/// The metric line for an input's outcome, if it belongs to a pipeline.
pub fn for_outcome(outcome: &Outcome, timestamp_ms: u64) -> Option<Value> {
    let (pipeline, rows_read, rows_rejected) = match outcome {
        Outcome::Loaded(report) => (report.pipeline.as_str(), report.counts.rows_in, report.counts.rows_rejected),
        // A failure not yet filed is retried, and counted when it is.
        Outcome::Failed(failure) if failure.filed => (failure.pipeline.as_deref()?, 0, 0),
        _ => return None,
    };
    let metric = |name: &str| json!({ "Name": name, "Unit": "Count" });
    Some(json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[PIPELINE_DIMENSION]],
                "Metrics": [metric(FILES_ARRIVED), metric(ROWS_READ), metric(ROWS_REJECTED)],
            }],
        },
        PIPELINE_DIMENSION: pipeline,
        FILES_ARRIVED: 1,
        ROWS_READ: rows_read,
        ROWS_REJECTED: rows_rejected,
    }))
}

/// Writes the outcome's metric line to stdout, beside the logs.
pub fn publish(outcome: &Outcome) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    if let Some(line) = for_outcome(outcome, now) {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use inlet_core::convert::RowCounts;
    use inlet_core::ingest::{Failure, LoadReport, Stage};

    use super::*;

    fn loaded(rows_in: u64, rows_rejected: u64) -> Outcome {
        Outcome::Loaded(LoadReport {
            source: "s3://input/in/a.csv".into(),
            done_key: "done/a.csv".into(),
            pipeline: "buoy".into(),
            table: "buoy_wind".into(),
            location: None,
            counts: RowCounts { rows_in, rows_out: rows_in - rows_rejected, rows_rejected, values_flagged: 0 },
            partitions: vec![],
            files: vec![],
            rejects_files: vec![],
            replaced_files: 0,
            content_sha256: String::new(),
            correlation_id: "c0ffee".into(),
        })
    }

    #[test]
    fn a_loaded_input_counts_one_arrival_and_its_rows() {
        let line = for_outcome(&loaded(10, 3), 1_700_000_000_000).expect("a loaded input has metrics");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[PIPELINE_DIMENSION]]));
        assert_eq!(
            (line[PIPELINE_DIMENSION].clone(), line[FILES_ARRIVED].clone(), line[ROWS_READ].clone(), line[ROWS_REJECTED].clone()),
            (json!("buoy"), json!(1), json!(10), json!(3))
        );
        let declared: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|m| m["Name"].as_str().expect("a name"))
            .collect();
        assert!(declared.iter().all(|name| line.get(*name).is_some()), "every declared metric has a value: {line}");
    }

    #[test]
    fn a_failure_counts_as_an_arrival_only_when_a_pipeline_claimed_it() {
        let failure = |pipeline: Option<&str>| {
            Outcome::Failed(Failure {
                source: "s3://input/in/a.csv".into(),
                failed_key: "failed/a.csv".into(),
                stage: Stage::Convert,
                error: "bad".into(),
                pipeline: pipeline.map(str::to_owned),
                line: None,
                member: None,
                retry: String::new(),
                correlation_id: None,
                filed: true,
            })
        };
        assert_eq!(for_outcome(&failure(Some("buoy")), 0).expect("claimed")[FILES_ARRIVED], 1);
        assert!(for_outcome(&failure(None), 0).is_none(), "an unrouted file belongs to no pipeline");
    }
}
