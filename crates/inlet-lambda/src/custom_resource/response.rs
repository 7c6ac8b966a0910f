//! Sending the answer: an HTTP PUT of the JSON body to the pre-signed URL.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Where answers go. Tests point it at a loopback server.
#[async_trait::async_trait]
pub trait Responder: Send + Sync {
    async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), String>;
}

/// PUTs over HTTPS (or HTTP, for a loopback test server) with the hyper and
/// rustls the AWS SDK already uses.
#[derive(Clone)]
pub struct HttpResponder {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

const ATTEMPTS: u32 = 4;

impl HttpResponder {
    pub fn new() -> Self {
        let connector = inlet_sources::fetch::tls_roots().https_or_http().enable_http1().build();
        Self { client: Client::builder(TokioExecutor::new()).build(connector) }
    }

    async fn put_once(&self, url: &str, body: &[u8]) -> Result<(), String> {
        // The URL is signed without a content type, so none is sent.
        let request = hyper::Request::put(url)
            .header(hyper::header::CONTENT_LENGTH, body.len())
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| format!("bad ResponseURL {url:?}: {e}"))?;
        let response = self.client.request(request).await.map_err(|e| format!("PUT to the ResponseURL failed: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        Err(format!("PUT to the ResponseURL answered {status}: {}", String::from_utf8_lossy(&text)))
    }
}

impl Default for HttpResponder {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Responder for HttpResponder {
    async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), String> {
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.put_once(url, &body).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "answering CloudFormation failed");
                    last = e;
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        Err(format!("{last} (after {ATTEMPTS} attempts)"))
    }
}
