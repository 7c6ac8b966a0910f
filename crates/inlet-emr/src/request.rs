//! What starts a run: a day's marker object, or a direct payload for a
//! historical range. Both become one [`LaunchRequest`].

use chrono::NaiveDate;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::EmrError;
use crate::product::Changes;

/// A run to start: which product, which days, where their files are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchRequest {
    pub product: String,
    pub correlation_id: String,
    /// The last day of the range, and the only one for a daily run.
    pub export_date: NaiveDate,
    /// The first day of a range; none for a daily run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    pub s3_bucket: String,
    pub s3_prefix: String,
    #[serde(default)]
    pub changes: Changes,
}

impl LaunchRequest {
    /// The arguments every step receives.
    pub fn step_args(&self) -> Vec<String> {
        let mut args = vec![
            "--correlation_id".into(),
            self.correlation_id.clone(),
            "--s3_bucket_name".into(),
            self.s3_bucket.clone(),
            "--s3_prefix".into(),
            self.s3_prefix.clone(),
            "--export_date".into(),
            self.export_date.to_string(),
        ];
        if let Some(start) = self.start_date {
            args.extend(["--start_date".into(), start.to_string()]);
        }
        args
    }

    /// A day's marker, `<product>/<YYYY-MM-DD>/<marker>` at the bucket root:
    /// the request for that day, or `None` for any other key. `key` is as S3
    /// events carry it (URL-encoded, `+` for a space).
    pub fn from_marker(bucket: &str, key: &str, correlation_id: &str, marker_of: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        let key = percent_decode_str(&key.replace('+', " ")).decode_utf8().ok()?.into_owned();
        let mut parts = key.splitn(3, '/');
        let (product, day, file) = (parts.next()?, parts.next()?, parts.next()?);
        if file != marker_of(product)? {
            return None;
        }
        let export_date = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
        Some(Self {
            product: product.into(),
            correlation_id: correlation_id.into(),
            export_date,
            start_date: None,
            s3_bucket: bucket.into(),
            s3_prefix: format!("{product}/{day}/"),
            changes: Changes::default(),
        })
    }
}

/// A historical load, sent directly or by `inlet backfill --backend aws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectPayload {
    pub product: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub correlation_id: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub overrides: Value,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extend: std::collections::BTreeMap<String, Vec<Value>>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub additional_step_args: std::collections::BTreeMap<String, Vec<String>>,
}

impl DirectPayload {
    /// The request over the product's folder of `bucket`.
    pub fn into_request(self, bucket: &str) -> Result<LaunchRequest, EmrError> {
        if self.start_date > self.end_date {
            return Err(EmrError::Payload {
                field: "start_date".into(),
                message: format!("{} is after end_date {}; give the range in order", self.start_date, self.end_date),
            });
        }
        if self.correlation_id.trim().is_empty() {
            return Err(EmrError::Payload { field: "correlation_id".into(), message: "is empty; name the run".into() });
        }
        Ok(LaunchRequest {
            s3_prefix: format!("{}/", self.product),
            product: self.product,
            correlation_id: self.correlation_id,
            export_date: self.end_date,
            start_date: Some(self.start_date),
            s3_bucket: bucket.into(),
            changes: Changes { overrides: self.overrides, extend: self.extend, additional_step_args: self.additional_step_args },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(product: &str) -> Option<String> {
        (product == "cyi_exports").then(|| "_SUCCESS".to_string())
    }

    #[test]
    fn a_marker_key_gives_the_day_and_product() {
        let request = LaunchRequest::from_marker("in-b", "cyi_exports/2024-01-15/_SUCCESS", "msg-1", &marker).unwrap();
        assert_eq!(request.export_date, NaiveDate::from_ymd_opt(2024, 1, 15).unwrap());
        assert_eq!(request.s3_prefix, "cyi_exports/2024-01-15/");
        assert_eq!(
            request.step_args(),
            [
                "--correlation_id",
                "msg-1",
                "--s3_bucket_name",
                "in-b",
                "--s3_prefix",
                "cyi_exports/2024-01-15/",
                "--export_date",
                "2024-01-15"
            ]
        );
    }

    #[test]
    fn other_keys_are_not_markers() {
        for key in [
            "cyi_exports/2024-01-15/part-1.json",
            "in/cyi_exports/2024-01-15/_SUCCESS",
            "cyi_exports/2024-13-15/_SUCCESS",
            "other/2024-01-15/_SUCCESS",
            "cyi_exports/2024-01-15/x/_SUCCESS",
        ] {
            assert_eq!(LaunchRequest::from_marker("b", key, "m", &marker), None, "{key}");
        }
    }

    #[test]
    fn a_direct_payload_is_a_range() {
        let payload: DirectPayload = serde_json::from_value(serde_json::json!({
            "product": "cyi_exports", "start_date": "2024-01-01", "end_date": "2024-03-31", "correlation_id": "q1",
            "additional_step_args": { "load-days": ["--x"] }
        }))
        .unwrap();
        let request = payload.into_request("in-b").unwrap();
        assert_eq!(request.s3_prefix, "cyi_exports/");
        assert_eq!(&request.step_args()[8..], ["--start_date", "2024-01-01"]);
        assert_eq!(request.changes.additional_step_args["load-days"], ["--x"]);
    }

    #[test]
    fn a_reversed_range_is_refused() {
        let payload = DirectPayload {
            product: "p".into(),
            start_date: NaiveDate::from_ymd_opt(2024, 2, 1).unwrap(),
            end_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            correlation_id: "c".into(),
            overrides: Value::Null,
            extend: Default::default(),
            additional_step_args: Default::default(),
        };
        assert!(payload.into_request("b").unwrap_err().to_string().contains("start_date"));
    }
}
