//! The downloader: one queued [`Download`] fetched into the input bucket.
//!
//! A body streams to `staging/<source>/<id>`, hashed on the way. Content whose
//! hash matches the last one that reached `in/` is dropped there; new content
//! moves to `in/<target><file name>`, where the input bucket's notification
//! starts the pipeline. Each URL's outcome lands in the source state; a URL
//! failing `failures_before_alert` times running raises an alert.

use std::sync::Arc;
use std::time::Duration;

use inlet_contract::prefixes::{INBOX, STAGING};
pub use inlet_core::alerts::{Alert, Alerts, LocalAlerts};
use inlet_core::error::{Classify, ErrorClass};
use inlet_core::storage::{ObjectLocation, ObjectStore, StoreError};
use percent_encoding::percent_decode_str;
use regex::Regex;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use url::Url;

use crate::config::SourceKind;
use crate::fetch::ftp::FtpSession;
use crate::fetch::{BodyReader, Conditions, FetchError, Fetched, Fetcher};
use crate::links::matching_links;
use crate::plan::Download;
use crate::state::{SourceState, StateError, UrlState};

/// How hard the downloader tries.
#[derive(Debug, Clone)]
pub struct DownloadSettings {
    /// Tries per URL for a transient failure (5xx, 408, 429, timeouts, resets).
    pub attempts: u32,
    /// The first retry's delay; each further one doubles it, with jitter.
    pub backoff: Duration,
    /// No wait is longer, `Retry-After` included.
    pub max_backoff: Duration,
    /// Consecutive failures of one URL before an alert goes out.
    pub failures_before_alert: u32,
    /// A listing page larger than this is refused.
    pub max_page_bytes: u64,
}

impl Default for DownloadSettings {
    fn default() -> Self {
        Self {
            attempts: 4,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            failures_before_alert: 3,
            max_page_bytes: 16 << 20,
        }
    }
}

/// A URL that keeps failing.
#[derive(Debug, Clone, Serialize)]
pub struct FailureAlert {
    pub source: String,
    pub url: String,
    pub consecutive_failures: u32,
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Fetch(#[from] FetchError),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error(transparent)]
    State(#[from] StateError),

    #[error("{url} is not a URL: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("{url} names no file (its path ends in '/'); point the source at a file, or use type: links for a listing")]
    NoFileName { url: String },

    #[error("source {source_id}: {problem}")]
    Source { source_id: String, problem: String },
}

impl Classify for DownloadError {
    fn class(&self) -> ErrorClass {
        match self {
            DownloadError::Fetch(e) => e.class(),
            DownloadError::Store(e) => e.class(),
            DownloadError::State(e) => e.class(),
            DownloadError::BadUrl { .. } | DownloadError::NoFileName { .. } | DownloadError::Source { .. } => ErrorClass::Permanent,
        }
    }
}

impl DownloadError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            DownloadError::Fetch(e) => e.retry_after(),
            _ => None,
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            DownloadError::Fetch(e) => e.status(),
            _ => None,
        }
    }

    /// The reader's own error, when a streamed upload failed because the body did.
    fn from_store(error: StoreError) -> Self {
        match error {
            StoreError::Io { source, .. } if source.get_ref().is_some_and(|e| e.is::<FetchError>()) => {
                let inner = source.into_inner().expect("checked above").downcast::<FetchError>().expect("checked above");
                DownloadError::Fetch(*inner)
            }
            other => DownloadError::Store(other),
        }
    }
}

/// What became of one URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FileOutcome {
    /// New content, now at `key` in the input bucket.
    Landed { key: String, bytes: u64, sha256: String },
    /// The server answered 304.
    NotModified,
    /// The server sent the content that reached `in/` last time.
    SameContent { sha256: String },
}

/// Every URL of one download, each with its outcome or its failure.
#[derive(Debug, Default)]
pub struct DownloadReport {
    pub fetched: Vec<(Url, FileOutcome)>,
    pub failed: Vec<(Url, DownloadError)>,
}

impl DownloadReport {
    /// The keys that reached `in/`.
    pub fn landed(&self) -> impl Iterator<Item = &str> {
        self.fetched.iter().filter_map(|(_, outcome)| match outcome {
            FileOutcome::Landed { key, .. } => Some(key.as_str()),
            _ => None,
        })
    }

    /// Transient when every failure is, so the message is worth retrying.
    pub fn failure_class(&self) -> Option<ErrorClass> {
        let classes = self.failed.iter().map(|(_, e)| e.class());
        classes.reduce(|a, b| if a.is_transient() && b.is_transient() { a } else { ErrorClass::Permanent })
    }
}

/// One successful fetch, and what the state should remember of it.
struct Attempt {
    outcome: FileOutcome,
    etag: Option<String>,
    last_modified: Option<String>,
    status: u16,
}

/// Fetches downloads into an input bucket.
#[derive(Debug, Clone)]
pub struct Downloader {
    pub fetcher: Fetcher,
    pub store: Arc<dyn ObjectStore>,
    pub state: Arc<dyn SourceState>,
    pub alerts: Arc<dyn Alerts>,
    pub input_bucket: String,
    pub settings: DownloadSettings,
}

impl Downloader {
    /// Fetches every URL of `download`. An `Err` means nothing could be
    /// tried (a listing page that failed, a bad source); a URL that failed
    /// is in the report's `failed`.
    pub async fn run(&self, download: &Download) -> Result<DownloadReport, DownloadError> {
        let url = Url::parse(&download.url).map_err(|e| DownloadError::BadUrl { url: download.url.clone(), reason: e.to_string() })?;
        let mut report = DownloadReport::default();
        let (urls, overwrite) = match download.kind {
            SourceKind::Direct => (vec![url], false),
            SourceKind::Links => (self.links(download, &url).await?, false),
            SourceKind::LinksOverwrite => (self.links(download, &url).await?, true),
            SourceKind::FtpFiles => return self.ftp_files(download, &url).await,
        };
        for url in urls {
            match self.fetch_file(download, &url, overwrite).await {
                Ok(outcome) => report.fetched.push((url, outcome)),
                Err(error) => report.failed.push((url, error)),
            }
        }
        Ok(report)
    }

    /// The links of the listing page at `url` that match the source's pattern.
    async fn links(&self, download: &Download, url: &Url) -> Result<Vec<Url>, DownloadError> {
        let source_problem = |problem: String| DownloadError::Source { source_id: download.source.clone(), problem };
        let pattern = pattern(download)?;
        let (page_url, page) = self.retrying(url, || self.page(download, url)).await?;
        let links = matching_links(&page, &page_url, &pattern)
            .map_err(|e| source_problem(format!("the page at {page_url} cannot be parsed: {e}")))?;
        tracing::info!(source = %download.source, page = %page_url, links = links.len(), "read the listing page");
        Ok(links)
    }

    async fn page(&self, download: &Download, url: &Url) -> Result<(Url, Vec<u8>), DownloadError> {
        let (page_url, reader) = match self.fetcher.get(url, &Conditions::default(), download.allow_private_addresses).await? {
            Fetched::Body(body) => (body.url, body.reader),
            Fetched::NotModified => {
                let problem = format!("{url} answered 304 Not Modified to a request that asked for no condition");
                return Err(DownloadError::Source { source_id: download.source.clone(), problem });
            }
        };
        let mut page = Vec::new();
        let limit = self.settings.max_page_bytes;
        reader.take(limit + 1).read_to_end(&mut page).await.map_err(|e| {
            DownloadError::from_store(StoreError::Io { operation: "read", location: ObjectLocation::new("", url.as_str()), source: e })
        })?;
        if page.len() as u64 > limit {
            return Err(FetchError::TooLarge { url: url.to_string(), limit }.into());
        }
        Ok((page_url, page))
    }

    /// One URL: fetched with retries, its outcome recorded in the source state.
    async fn fetch_file(&self, download: &Download, url: &Url, overwrite: bool) -> Result<FileOutcome, DownloadError> {
        self.tracked(download, url, async |before| self.retrying(url, || self.fetch_once(download, url, before, overwrite)).await).await
    }

    /// Runs `attempt` with the URL's record, then records its outcome.
    async fn tracked(
        &self,
        download: &Download,
        url: &Url,
        attempt: impl AsyncFnOnce(&UrlState) -> Result<Attempt, DownloadError>,
    ) -> Result<FileOutcome, DownloadError> {
        let before = self.state.get(&download.source, url.as_str()).await?;
        let result = attempt(&before).await;
        self.record(download, url, before, &result).await?;
        result.map(|attempt| attempt.outcome)
    }

    /// The files of the FTP directory at `url` whose names match the
    /// pattern. A file whose modification time and hash are on record is
    /// not transferred again.
    async fn ftp_files(&self, download: &Download, url: &Url) -> Result<DownloadReport, DownloadError> {
        let pattern = pattern(download)?;
        let mut session = self.retrying(url, || async { Ok(self.fetcher.ftp(url, download.allow_private_addresses).await?) }).await?;
        let names: Vec<String> = session.names().await?.into_iter().filter(|name| pattern.is_match(name)).collect();
        tracing::info!(source = %download.source, directory = %url, files = names.len(), "listed the FTP directory");
        let mut report = DownloadReport::default();
        for name in names {
            let file_url = session.url_of(&name)?;
            let session = &mut session;
            let result =
                self.tracked(download, &file_url, async |before| self.ftp_file(session, download, &file_url, &name, before).await).await;
            match result {
                Ok(outcome) => report.fetched.push((file_url, outcome)),
                Err(error) => report.failed.push((file_url, error)),
            }
        }
        session.quit().await;
        Ok(report)
    }

    async fn ftp_file(
        &self,
        session: &mut FtpSession,
        download: &Download,
        url: &Url,
        name: &str,
        before: &UrlState,
    ) -> Result<Attempt, DownloadError> {
        let modified = session.modified(name).await;
        if modified.is_some() && modified == before.last_modified && before.sha256.is_some() {
            return Ok(Attempt { outcome: FileOutcome::NotModified, etag: None, last_modified: modified, status: 213 });
        }
        let size = session.size(name).await?;
        let reader = session.retrieve(name).await?;
        let outcome = self.stage_and_land(download, url, reader, before.sha256.as_deref(), Some(size)).await?;
        Ok(Attempt { outcome, etag: None, last_modified: modified, status: 226 })
    }

    async fn fetch_once(&self, download: &Download, url: &Url, before: &UrlState, overwrite: bool) -> Result<Attempt, DownloadError> {
        let conditions = match overwrite {
            true => Conditions::default(),
            false => Conditions { etag: before.etag.clone(), last_modified: before.last_modified.clone() },
        };
        let body = match self.fetcher.get(url, &conditions, download.allow_private_addresses).await? {
            Fetched::NotModified => {
                let (etag, last_modified) = (before.etag.clone(), before.last_modified.clone());
                return Ok(Attempt { outcome: FileOutcome::NotModified, etag, last_modified, status: 304 });
            }
            Fetched::Body(body) => *body,
        };
        let (etag, last_modified) = (body.etag.clone(), body.last_modified.clone());
        let outcome = self.stage_and_land(download, url, body.reader, before.sha256.as_deref().filter(|_| !overwrite), None).await?;
        Ok(Attempt { outcome, etag, last_modified, status: 200 })
    }

    /// Streams the body to staging, then moves it to `in/` unless its hash
    /// is `known`. A body shorter than an `expected` size was cut off.
    async fn stage_and_land(
        &self,
        download: &Download,
        url: &Url,
        reader: BodyReader,
        known: Option<&str>,
        expected: Option<u64>,
    ) -> Result<FileOutcome, DownloadError> {
        let file_name = file_name(url)?;
        let staging = ObjectLocation::new(&self.input_bucket, staging_key(download, url));
        let tally = reader.tally();
        if let Err(e) = self.store.put_stream(&staging, Box::pin(reader)).await {
            // Best effort: a retry rewrites the same key, and the bucket's lifecycle rule expires staging.
            let _ = self.store.delete(&staging).await;
            return Err(DownloadError::from_store(e));
        }
        let (bytes, sha256) = tally.finish();
        if let Some(expected) = expected.filter(|&size| size != bytes) {
            self.store.delete(&staging).await?;
            let source = format!("the transfer ended after {bytes} of {expected} bytes").into();
            return Err(FetchError::Body { url: url.to_string(), source }.into());
        }
        if known == Some(sha256.as_str()) {
            self.store.delete(&staging).await?;
            return Ok(FileOutcome::SameContent { sha256 });
        }
        let key = format!("{INBOX}{}{file_name}", download.target);
        self.store.rename(&staging, &staging.with_key(&key), None).await?;
        tracing::info!(source = %download.source, url = %url, key = %key, bytes, "new content landed");
        Ok(FileOutcome::Landed { key, bytes, sha256 })
    }

    /// Runs `attempt` until it succeeds, fails permanently, or runs out of tries.
    async fn retrying<T, F, Fut>(&self, url: &Url, attempt: F) -> Result<T, DownloadError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, DownloadError>>,
    {
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(error) if error.class().is_transient() && tries < self.settings.attempts => {
                    let delay = self.delay(tries, error.retry_after());
                    tracing::warn!(url = %url, attempt = tries, retry_in = ?delay, error = %error, "fetch failed; retrying");
                    tokio::time::sleep(delay).await;
                    tries += 1;
                }
                result => return result,
            }
        }
    }

    /// The server's `Retry-After` when it gave one, else exponential backoff
    /// with jitter (half fixed, half random) so that retries spread out.
    fn delay(&self, tries: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self.settings.max_backoff;
        if let Some(wait) = retry_after {
            return wait.min(cap);
        }
        let full = self.settings.backoff.saturating_mul(1 << (tries - 1).min(16)).min(cap);
        full / 2 + full.mul_f64(fastrand::f64() / 2.0)
    }

    async fn record(
        &self,
        download: &Download,
        url: &Url,
        before: UrlState,
        result: &Result<Attempt, DownloadError>,
    ) -> Result<(), DownloadError> {
        let mut after = UrlState { checked_at: Some(chrono::Utc::now().to_rfc3339()), ..before };
        match result {
            Ok(attempt) => {
                after.etag = attempt.etag.clone();
                after.last_modified = attempt.last_modified.clone();
                if let FileOutcome::Landed { sha256, .. } = &attempt.outcome {
                    after.sha256 = Some(sha256.clone());
                }
                after.last_status = Some(attempt.status);
                after.last_error = None;
                after.consecutive_failures = 0;
            }
            Err(error) => {
                after.last_status = error.status();
                after.last_error = Some(error.to_string());
                after.consecutive_failures += 1;
            }
        }
        match self.state.put(&download.source, url.as_str(), &after).await {
            Err(StateError::Conflict { .. }) => {
                tracing::warn!(source = %download.source, url = %url, "another run recorded this URL first; its record stands");
                return Ok(());
            }
            other => other?,
        }
        if result.is_err() && after.consecutive_failures == self.settings.failures_before_alert {
            self.alert(download, url, &after).await;
        }
        Ok(())
    }

    async fn alert(&self, download: &Download, url: &Url, state: &UrlState) {
        let alert = FailureAlert {
            source: download.source.clone(),
            url: url.to_string(),
            consecutive_failures: state.consecutive_failures,
            error: state.last_error.clone().unwrap_or_default(),
        };
        tracing::error!(source = %alert.source, url = %alert.url, failures = alert.consecutive_failures, error = %alert.error, "a source keeps failing");
        let subject = format!("inlet: source {} failed {} times in a row", alert.source, alert.consecutive_failures);
        if let Err(e) = self.alerts.publish(&Alert::new(subject, &alert)).await {
            tracing::error!(error = %inlet_core::error::describe(e.as_ref()), "could not send the alert");
        }
    }
}

/// The source's pattern, compiled.
fn pattern(download: &Download) -> Result<Regex, DownloadError> {
    let source_problem = |problem: String| DownloadError::Source { source_id: download.source.clone(), problem };
    let pattern = download.pattern.as_deref().ok_or_else(|| source_problem("a listing source needs a pattern".into()))?;
    Regex::new(pattern).map_err(|e| source_problem(format!("pattern: {e}")))
}

/// `staging/<source>/<id>`: one key per download and URL, so a retry
/// overwrites its own earlier attempt.
fn staging_key(download: &Download, url: &Url) -> String {
    let id = Sha256::digest(format!("{}\n{url}", download.deduplication_id));
    format!("{STAGING}{}/{}", download.source, hex::encode(&id[..16]))
}

/// The URL's last path segment, decoded.
fn file_name(url: &Url) -> Result<String, DownloadError> {
    let segment = url.path_segments().and_then(|mut segments| segments.next_back()).unwrap_or_default();
    let name = percent_decode_str(segment).decode_utf8_lossy().into_owned();
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(DownloadError::NoFileName { url: url.to_string() });
    }
    Ok(name)
}

#[cfg(test)]
mod tests;
