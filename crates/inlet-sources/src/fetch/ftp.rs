//! FTP directories: the files whose names match a source's pattern.
//!
//! The control connection goes through [`Network`], so its address is
//! checked like any HTTP host's; passive data connections are sent to that
//! same checked address (the NAT workaround), never to the address a PASV
//! reply names, so a server cannot point inlet at another host.

use std::time::Duration;

use suppaftp::FtpError;
use suppaftp::tokio::AsyncFtpStream;
use suppaftp::types::FileType;
use url::Url;

use super::{BodyReader, ConnectError, FetchError, FetchSettings, Network};

/// A logged-in session in one directory.
pub struct FtpSession {
    stream: AsyncFtpStream,
    directory: Url,
    settings: FetchSettings,
}

impl std::fmt::Debug for FtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpSession").field("directory", &self.directory.as_str()).finish_non_exhaustive()
    }
}

impl FtpSession {
    /// Connects to `directory` (`ftp://[user[:password]@]host[:port]/path/`),
    /// logs in (anonymously unless the URL names a user) and enters binary mode.
    pub async fn open(network: &Network, settings: &FetchSettings, directory: &Url, allow_private: bool) -> Result<Self, FetchError> {
        let url = directory.to_string();
        let host = directory.host_str().ok_or_else(|| FetchError::BadUrl { url: url.clone(), reason: "it has no host".into() })?;
        let port = directory.port().unwrap_or(21);
        let control = network.connect(host, port, allow_private).await.map_err(|source| match source {
            refused @ (ConnectError::Refused { .. } | ConnectError::NoHost) => FetchError::Connect { url: url.clone(), source: refused },
            other => FetchError::Request { url: url.clone(), message: other.to_string(), source: Box::new(other) },
        })?;
        let timeout = settings.read_timeout;
        let mut stream = within(timeout, &url, "the server's greeting", AsyncFtpStream::connect_with_stream(control)).await?;
        stream.set_passive_nat_workaround(true);
        let (user, password) = match directory.username() {
            "" => ("anonymous".to_owned(), "inlet@".to_owned()),
            user => (user.to_owned(), directory.password().unwrap_or_default().to_owned()),
        };
        within(timeout, &url, "the login", stream.login(user.as_str(), password.as_str())).await?;
        within(timeout, &url, "binary mode", stream.transfer_type(FileType::Binary)).await?;
        Ok(Self { stream, directory: directory.clone(), settings: settings.clone() })
    }

    /// The names in the directory (`NLST`), without any path.
    pub async fn names(&mut self) -> Result<Vec<String>, FetchError> {
        let url = self.directory.to_string();
        let path = self.directory.path().to_owned();
        let listed = within(self.settings.read_timeout, &url, "the listing", self.stream.nlst(Some(&path))).await?;
        Ok(listed
            .into_iter()
            .map(|line| line.trim_end().rsplit('/').next().unwrap_or_default().to_owned())
            .filter(|n| !n.is_empty())
            .collect())
    }

    /// The file's URL.
    pub fn url_of(&self, name: &str) -> Result<Url, FetchError> {
        self.directory.join(name).map_err(|e| FetchError::BadUrl { url: format!("{}{name}", self.directory), reason: e.to_string() })
    }

    /// The file's modification time (`MDTM`) as RFC 3339, when the server tells.
    pub async fn modified(&mut self, name: &str) -> Option<String> {
        let path = self.url_of(name).ok()?.path().to_owned();
        let time = tokio::time::timeout(self.settings.read_timeout, self.stream.mdtm(&path)).await.ok()?.ok()?;
        Some(time.and_utc().to_rfc3339())
    }

    /// The file's size (`SIZE`), refused above the cap before any transfer.
    pub async fn size(&mut self, name: &str) -> Result<u64, FetchError> {
        let url = self.url_of(name)?;
        let size = within(self.settings.read_timeout, url.as_str(), "the file's size", self.stream.size(url.path())).await? as u64;
        if size > self.settings.max_bytes {
            return Err(FetchError::TooLarge { url: url.to_string(), limit: self.settings.max_bytes });
        }
        Ok(size)
    }

    /// The file's bytes (`RETR`). The transfer's completion reply is read
    /// by the session's next command.
    pub async fn retrieve(&mut self, name: &str) -> Result<BodyReader, FetchError> {
        let url = self.url_of(name)?;
        let transfer =
            within(self.settings.read_timeout, url.as_str(), "the transfer to start", self.stream.retr_as_stream(url.path())).await?;
        Ok(BodyReader::new(transfer, url.to_string(), self.settings.read_timeout, self.settings.max_bytes))
    }

    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.stream.quit()).await;
    }
}

/// Runs an FTP command with the read timeout; a 5xx reply is permanent, the rest transient.
async fn within<T>(
    timeout: Duration,
    url: &str,
    waiting_for: &'static str,
    command: impl Future<Output = Result<T, FtpError>>,
) -> Result<T, FetchError> {
    match tokio::time::timeout(timeout, command).await {
        Err(_) => Err(FetchError::Timeout { url: url.to_owned(), waiting_for, after: timeout }),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(FtpError::UnexpectedResponse(response))) => {
            let reply = String::from_utf8_lossy(&response.body).trim_end().to_owned();
            Err(FetchError::FtpReply { url: url.to_owned(), code: response.status.code(), reply })
        }
        Ok(Err(other)) => Err(FetchError::Request { url: url.to_owned(), message: other.to_string(), source: Box::new(other) }),
    }
}
