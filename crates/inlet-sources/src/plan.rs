//! What one run of the harvester fetches: the active sources of a schedule,
//! their URLs expanded for the run's time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Source, SourceKind, SourceSet};

/// One download, as the harvester queues it and the downloader reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    pub source: String,
    pub url: String,
    pub kind: SourceKind,
    /// For a page or FTP listing: what a link or file name must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The key prefix under `in/`.
    pub target: String,
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// The run's scheduled minute, `2021-01-15T00:00Z`.
    pub period: String,
    /// From source, URL and period: a retried run queues the same ids, which
    /// a FIFO queue drops within its five minutes, and source state after.
    pub deduplication_id: String,
}

/// The downloads of a run at `at`: the active sources on `schedule`, or on
/// every schedule when it is `None` (a run by hand).
pub fn harvest(sources: &SourceSet, schedule: Option<&str>, at: DateTime<Utc>) -> Vec<Download> {
    let period = at.format("%Y-%m-%dT%H:%MZ").to_string();
    sources
        .sources
        .iter()
        .filter(|source| source.active && schedule.is_none_or(|s| s == source.schedule.expression()))
        .map(|source| download(source, at, &period))
        .collect()
}

fn download(source: &Source, at: DateTime<Utc>, period: &str) -> Download {
    let url = source.url.expand(at, source.zone);
    let deduplication_id = hex::encode(Sha256::digest(format!("{}\n{url}\n{period}", source.id)));
    Download {
        source: source.id.clone(),
        url,
        kind: source.kind,
        pattern: source.pattern.as_ref().map(|p| p.as_str().to_owned()),
        target: source.target.clone(),
        allow_private_addresses: source.allow_private_addresses,
        period: period.to_owned(),
        deduplication_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: &str = r#"
sources:
  - id: asx_eod
    url: "https://data.example.com/eod/{yesterday}.csv"
    type: direct
    schedule: cron(0 22 ? * MON-FRI *)
    timezone: Australia/Sydney
    target: asx/
  - id: monthly
    url: "https://data.example.com/{lastmonth_year}/{lastmonth}/"
    type: links
    pattern: '\.csv$'
    schedule: rate(1 day)
    target: monthly/
  - id: retired
    active: false
    url: "https://data.example.com/old.csv"
    type: direct
    schedule: rate(1 day)
    target: old/
"#;

    #[test]
    fn a_run_expands_the_active_sources_of_its_schedule() {
        let set = SourceSet::from_yaml("s.yaml", SOURCES).unwrap();
        let at: DateTime<Utc> = "2021-01-01T11:00:00Z".parse().unwrap();
        let daily = harvest(&set, Some("rate(1 day)"), at);
        assert_eq!(daily.len(), 1, "the inactive source is skipped");
        assert_eq!(daily[0].url, "https://data.example.com/2020/12/");
        let all = harvest(&set, None, at);
        // 11:00 UTC is 22:00 on 1 January in Sydney, where yesterday was 31 December.
        assert_eq!(all[0].url, "https://data.example.com/eod/20201231.csv");
        assert_eq!(all[0].period, "2021-01-01T11:00Z");
        assert_eq!(all[0].deduplication_id.len(), 64);
        assert_eq!(harvest(&set, None, at), all, "a retried run queues the same ids");
        assert_ne!(harvest(&set, None, at + chrono::Duration::days(1))[0].deduplication_id, all[0].deduplication_id);
    }
}
