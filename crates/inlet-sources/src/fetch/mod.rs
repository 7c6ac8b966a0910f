//! HTTP(S) requests to sources: conditional, redirect-capped, timed, with
//! every connection checked against the private-address rule.
//!
//! The client is hyper's, over the same rustls the AWS SDK uses; the
//! connections are [`connect::Network`]'s. Redirects are followed here, hop
//! by hop, so each new host is resolved and checked like the first.

pub mod body;
pub mod connect;
pub mod ftp;

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use inlet_core::error::{BoxError, Classify, ErrorClass};
use url::Url;

pub use body::{BodyReader, Tally};
pub use connect::{ConnectError, Dial, GuardedConnector, Network, Resolve};

/// Limits on one request.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub connect_timeout: Duration,
    /// For the response headers, and for each pause within the body.
    pub read_timeout: Duration,
    pub max_redirects: u32,
    /// A body larger than this fails, however the server declares it.
    pub max_bytes: u64,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(10), read_timeout: Duration::from_secs(30), max_redirects: 5, max_bytes: 5 << 30 }
    }
}

/// Why a request got no body.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url} is not a URL inlet can fetch: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("{url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: ConnectError,
    },

    #[error("{url}: the request failed: {message}")]
    Request {
        url: String,
        message: String,
        #[source]
        source: BoxError,
    },

    #[error("{url}: no answer within {after:?} while waiting for {waiting_for}")]
    Timeout { url: String, waiting_for: &'static str, after: Duration },

    #[error("{url} answered {status}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status { url: String, status: StatusCode, retry_after: Option<Duration> },

    #[error("{url}: the FTP server answered {code} {reply}")]
    FtpReply { url: String, code: u32, reply: String },

    #[error("{url} redirected more than {limit} times")]
    TooManyRedirects { url: String, limit: u32 },

    #[error("{url} answered {status} without a usable Location")]
    BadRedirect { url: String, status: StatusCode },

    #[error("{url} is larger than the {limit}-byte cap; raise the downloader's size cap if the file really is this large")]
    TooLarge { url: String, limit: u64 },

    #[error("{url}: reading the body failed: {source}")]
    Body {
        url: String,
        #[source]
        source: BoxError,
    },
}

impl FetchError {
    /// How long the server asked us to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status the server answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(status.as_u16()),
            FetchError::FtpReply { code, .. } => u16::try_from(*code).ok(),
            _ => None,
        }
    }
}

impl Classify for FetchError {
    fn class(&self) -> ErrorClass {
        match self {
            FetchError::Connect { source: ConnectError::Refused { .. } | ConnectError::NoHost, .. } => ErrorClass::Permanent,
            FetchError::Connect { .. } | FetchError::Request { .. } | FetchError::Timeout { .. } | FetchError::Body { .. } => {
                ErrorClass::Transient
            }
            // 408 and 429 say "later", like a 5xx; any other 4xx will not change on its own.
            FetchError::Status { status, .. } if status.is_server_error() || matches!(status.as_u16(), 408 | 429) => ErrorClass::Transient,
            FetchError::Status { .. }
            | FetchError::BadUrl { .. }
            | FetchError::TooManyRedirects { .. }
            | FetchError::BadRedirect { .. } => ErrorClass::Permanent,
            FetchError::TooLarge { .. } => ErrorClass::Permanent,
            // 4xx replies are FTP's "try again"; 5xx ones will not change on their own.
            FetchError::FtpReply { code, .. } if *code < 500 => ErrorClass::Transient,
            FetchError::FtpReply { .. } => ErrorClass::Permanent,
        }
    }
}

/// What the server holds about the copy we have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A successful answer.
#[derive(Debug)]
pub enum Fetched {
    /// `304`: the copy we have is current.
    NotModified,
    Body(Box<FetchedBody>),
}

#[derive(Debug)]
pub struct FetchedBody {
    /// After redirects.
    pub url: Url,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub reader: BodyReader,
}

type HttpClient = Client<HttpsConnector<GuardedConnector>, Empty<Bytes>>;

/// Fetches URLs for sources, each under its own private-address rule.
#[derive(Debug, Clone)]
pub struct Fetcher {
    network: Network,
    public_only: HttpClient,
    private_allowed: HttpClient,
    settings: FetchSettings,
}

impl Fetcher {
    pub fn new(network: Network, settings: FetchSettings) -> Self {
        let client = |allow_private| {
            let connector = GuardedConnector { network: network.clone(), allow_private };
            Client::builder(TokioExecutor::new()).build(https_connector(connector))
        };
        Self { public_only: client(false), private_allowed: client(true), network, settings }
    }

    /// A session in the FTP directory at `url`.
    pub async fn ftp(&self, url: &Url, allow_private: bool) -> Result<ftp::FtpSession, FetchError> {
        ftp::FtpSession::open(&self.network, &self.settings, url, allow_private).await
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// GETs `url`, following redirects, with `conditions` sent as
    /// `If-None-Match` and `If-Modified-Since`.
    pub async fn get(&self, url: &Url, conditions: &Conditions, allow_private: bool) -> Result<Fetched, FetchError> {
        let mut url = url.clone();
        for _ in 0..=self.settings.max_redirects {
            let response = self.send(&url, conditions, allow_private).await?;
            let status = response.status();
            match status {
                StatusCode::NOT_MODIFIED => return Ok(Fetched::NotModified),
                s if s.is_redirection() => url = redirect_target(&url, status, response.headers())?,
                s if s.is_success() => return self.body(url, response),
                _ => return Err(FetchError::Status { url: url.to_string(), status, retry_after: retry_after(response.headers()) }),
            }
        }
        Err(FetchError::TooManyRedirects { url: url.to_string(), limit: self.settings.max_redirects })
    }

    async fn send(
        &self,
        url: &Url,
        conditions: &Conditions,
        allow_private: bool,
    ) -> Result<hyper::Response<hyper::body::Incoming>, FetchError> {
        let request = build_request(url, conditions)?;
        let client = if allow_private { &self.private_allowed } else { &self.public_only };
        match tokio::time::timeout(self.settings.read_timeout, client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(request_error(url, error)),
            Err(_) => {
                Err(FetchError::Timeout { url: url.to_string(), waiting_for: "the response headers", after: self.settings.read_timeout })
            }
        }
    }

    fn body(&self, url: Url, response: hyper::Response<hyper::body::Incoming>) -> Result<Fetched, FetchError> {
        let headers = response.headers();
        let declared = header_text(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.settings.max_bytes) {
            return Err(FetchError::TooLarge { url: url.to_string(), limit: self.settings.max_bytes });
        }
        let etag = header_text(headers, header::ETAG);
        let last_modified = header_text(headers, header::LAST_MODIFIED);
        let reader = BodyReader::http(response.into_body(), url.to_string(), self.settings.read_timeout, self.settings.max_bytes);
        Ok(Fetched::Body(Box::new(FetchedBody { url, etag, last_modified, reader })))
    }
}

/// TLS from the system's roots, falling back to plain HTTP for `http://`.
fn https_connector(connector: GuardedConnector) -> HttpsConnector<GuardedConnector> {
    tls_roots().https_or_http().enable_http1().wrap_connector(connector)
}

/// A connector builder trusting the system's roots, over the rustls
/// provider the AWS SDK uses. With no system roots at all (an unusual
/// image), HTTPS fails with a clear error instead of at start-up.
pub fn tls_roots() -> hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider).unwrap_or_else(|_| {
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
            rustls::ClientConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
                .with_safe_default_protocol_versions()
                .expect("the default protocol versions are supported")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    })
}

fn build_request(url: &Url, conditions: &Conditions) -> Result<Request<Empty<Bytes>>, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::BadUrl { url: url.to_string(), reason: format!("the scheme {:?} is not http or https", url.scheme()) });
    }
    let mut request = Request::get(url.as_str()).header(header::USER_AGENT, concat!("inlet/", env!("CARGO_PKG_VERSION")));
    if let Some(etag) = &conditions.etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    if let Some(last_modified) = &conditions.last_modified {
        request = request.header(header::IF_MODIFIED_SINCE, last_modified);
    }
    request.body(Empty::new()).map_err(|e| FetchError::BadUrl { url: url.to_string(), reason: e.to_string() })
}

/// A connection refused by the address rule keeps its own error, so the
/// caller sees why and does not retry; anything else from hyper (a refused
/// or timed-out connection, a reset) is a transient request failure.
fn request_error(url: &Url, error: hyper_util::client::legacy::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(ConnectError::Refused { host, refused }) = e.downcast_ref::<ConnectError>() {
            let source = ConnectError::Refused { host: host.clone(), refused: refused.clone() };
            return FetchError::Connect { url: url.to_string(), source };
        }
        source = e.source();
    }
    FetchError::Request { url: url.to_string(), message: inlet_core::error::describe(&error), source: Box::new(error) }
}

fn redirect_target(url: &Url, status: StatusCode, headers: &HeaderMap) -> Result<Url, FetchError> {
    let bad = || FetchError::BadRedirect { url: url.to_string(), status };
    let location = header_text(headers, header::LOCATION).ok_or_else(bad)?;
    url.join(&location).map_err(|_| bad())
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = header_text(headers, header::RETRY_AFTER)?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned)
}
