//! Connections that never reach an address a source may not.
//!
//! Every connection, the first and each redirect's, resolves its host here,
//! checks every address with [`crate::address::check`], and dials only the
//! addresses it checked, so a name that answers differently the second time
//! (DNS rebinding) cannot slip past. Resolving and dialing are traits: tests
//! install hooks that record every attempt, and production uses the system's.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::address::{self, AddressRefused};

/// Turns a host name into addresses.
#[async_trait]
pub trait Resolve: Send + Sync + fmt::Debug {
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// Opens a TCP connection to an address that has been checked.
#[async_trait]
pub trait Dial: Send + Sync + fmt::Debug {
    async fn dial(&self, address: SocketAddr) -> io::Result<TcpStream>;
}

/// The operating system's resolver.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

#[async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// Plain TCP.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpDialer;

#[async_trait]
impl Dial for TcpDialer {
    async fn dial(&self, address: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Why no connection was made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the URL has no host")]
    NoHost,

    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },

    #[error("{host} resolves to no address")]
    NoAddress { host: String },

    #[error("{host}: {refused}")]
    Refused {
        host: String,
        #[source]
        refused: AddressRefused,
    },

    #[error("connecting to {address} took longer than {after:?}")]
    Timeout { address: SocketAddr, after: Duration },

    #[error("cannot connect to {address}: {source}")]
    Dial {
        address: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// Where connections may go, and how they are made.
#[derive(Debug, Clone)]
pub struct Network {
    pub resolver: Arc<dyn Resolve>,
    pub dialer: Arc<dyn Dial>,
    pub connect_timeout: Duration,
}

impl Network {
    /// The system's resolver and plain TCP.
    pub fn system(connect_timeout: Duration) -> Self {
        Self { resolver: Arc::new(SystemResolver), dialer: Arc::new(TcpDialer), connect_timeout }
    }

    /// The addresses of `host`, each checked; refused as a whole if any is
    /// not allowed, since a name that mixes public and private addresses is
    /// not one to trust with either.
    pub async fn addresses(&self, host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, ConnectError> {
        let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let addresses = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => self.resolver.resolve(host, port).await.map_err(|source| ConnectError::Resolve { host: host.to_owned(), source })?,
        };
        if addresses.is_empty() {
            return Err(ConnectError::NoAddress { host: host.to_owned() });
        }
        for address in &addresses {
            address::check(address.ip(), allow_private).map_err(|refused| ConnectError::Refused { host: host.to_owned(), refused })?;
        }
        Ok(addresses)
    }

    /// A connection to `host`: its checked addresses tried in turn.
    pub async fn connect(&self, host: &str, port: u16, allow_private: bool) -> Result<TcpStream, ConnectError> {
        let mut last = None;
        for address in self.addresses(host, port, allow_private).await? {
            match tokio::time::timeout(self.connect_timeout, self.dialer.dial(address)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(source)) => last = Some(ConnectError::Dial { address, source }),
                Err(_) => last = Some(ConnectError::Timeout { address, after: self.connect_timeout }),
            }
        }
        Err(last.expect("addresses() returns at least one address"))
    }
}

/// A hyper connector over [`Network`], for one side of the private-address rule.
#[derive(Debug, Clone)]
pub struct GuardedConnector {
    pub network: Network,
    pub allow_private: bool,
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri.host().ok_or(ConnectError::NoHost)?;
            let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
            this.network.connect(host, port, this.allow_private).await.map(TokioIo::new)
        })
    }
}
