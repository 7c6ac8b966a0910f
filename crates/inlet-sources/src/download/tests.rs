//! The downloader against a loopback server, with hooks in place of the
//! resolver and the dialer: every connection attempt is recorded, and one to
//! any address outside 127.0.0.0/8 fails the test instead of leaving the host.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use inlet_core::storage::LocalObjectStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::fetch::{ConnectError, Dial, FetchSettings, Network, Resolve};
use crate::state::LocalSourceState;

/// Names the tests use, and what they resolve to.
#[derive(Debug, Default)]
struct HookResolver {
    names: HashMap<&'static str, IpAddr>,
    lookups: Mutex<Vec<String>>,
}

#[async_trait]
impl Resolve for HookResolver {
    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.lookups.lock().unwrap().push(host.to_owned());
        let ip = self.names.get(host).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no test name {host}")))?;
        Ok(vec![SocketAddr::new(*ip, port)])
    }
}

/// Dials loopback addresses for real, and stand-ins for the documentation
/// addresses the resolver hands out for "public" names; records everything,
/// and refuses anything else without touching the network.
#[derive(Debug, Default)]
struct HookDialer {
    stand_ins: HashMap<IpAddr, SocketAddr>,
    attempts: Mutex<Vec<SocketAddr>>,
}

#[async_trait]
impl Dial for HookDialer {
    async fn dial(&self, address: SocketAddr) -> io::Result<TcpStream> {
        self.attempts.lock().unwrap().push(address);
        let target = match self.stand_ins.get(&address.ip()) {
            Some(stand_in) => *stand_in,
            None if address.ip().is_loopback() => address,
            None => panic!("the code under test tried to connect to {address}, outside 127.0.0.0/8"),
        };
        TcpStream::connect(target).await
    }
}

/// A loopback HTTP/1.1 server answering each request to a path with the
/// next of its canned responses (the last one repeats), one per connection.
struct Server {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

/// A canned answer: the raw head and body, then how long to stall before closing.
fn answer(status: &str, headers: &[&str], body: &str) -> (String, Duration) {
    let mut text = format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    headers.iter().for_each(|h| text.push_str(&format!("{h}\r\n")));
    text.push_str("\r\n");
    text.push_str(body);
    (text, Duration::ZERO)
}

async fn serve(routes: Vec<(&'static str, Vec<(String, Duration)>)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (accepted, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let routes = Arc::new(Mutex::new(routes.into_iter().collect::<HashMap<_, _>>()));
    let (count, log) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let (routes, log) = (routes.clone(), log.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read_u8().await {
                        Ok(byte) => head.push(byte),
                        Err(_) => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                log.lock().unwrap().push(head);
                let (text, stall) = {
                    let mut routes = routes.lock().unwrap();
                    match routes.get_mut(path.as_str()) {
                        Some(queue) if queue.len() > 1 => queue.remove(0),
                        Some(queue) => queue[0].clone(),
                        None => answer("404 Not Found", &[], "no such file"),
                    }
                };
                let _ = stream.write_all(text.as_bytes()).await;
                tokio::time::sleep(stall).await;
            });
        }
    });
    Server { address, accepted, requests }
}

struct Rig {
    downloader: Downloader,
    dialer: Arc<HookDialer>,
    resolver: Arc<HookResolver>,
    state: Arc<LocalSourceState>,
    store: LocalObjectStore,
    _dir: tempfile::TempDir,
}

/// `public.test` stands for a public server and is served by `server`.
fn rig(server: Option<&Server>) -> Rig {
    let public: IpAddr = "203.0.113.10".parse().unwrap();
    let resolver = Arc::new(HookResolver {
        names: HashMap::from([
            ("public.test", public),
            ("metadata.test", "169.254.169.254".parse().unwrap()),
            ("intranet.test", "10.0.0.1".parse().unwrap()),
            ("loopback.test", "127.0.0.1".parse().unwrap()),
        ]),
        ..HookResolver::default()
    });
    let stand_ins = server.map(|s| HashMap::from([(public, s.address)])).unwrap_or_default();
    let dialer = Arc::new(HookDialer { stand_ins, ..HookDialer::default() });
    let network = Network { resolver: resolver.clone(), dialer: dialer.clone(), connect_timeout: Duration::from_secs(2) };
    let settings = FetchSettings { read_timeout: Duration::from_millis(700), ..FetchSettings::default() };
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path().join("buckets"));
    let state = Arc::new(LocalSourceState::new(dir.path().join("sources.json")));
    let downloader = Downloader {
        fetcher: Fetcher::new(network, settings),
        store: Arc::new(LocalObjectStore::new(dir.path().join("buckets"))),
        state: state.clone(),
        alerts: Arc::new(LocalAlerts { path: dir.path().join("alerts.jsonl") }),
        input_bucket: "input".into(),
        settings: DownloadSettings { backoff: Duration::from_millis(10), ..DownloadSettings::default() },
    };
    Rig { downloader, dialer, resolver, state, store, _dir: dir }
}

fn direct(url: String, allow_private: bool) -> Download {
    Download {
        source: "asx_eod".into(),
        url,
        kind: SourceKind::Direct,
        pattern: None,
        target: "asx/".into(),
        allow_private_addresses: allow_private,
        period: "2024-01-02T08:00Z".into(),
        deduplication_id: "d".repeat(64),
    }
}

async fn inbox(store: &LocalObjectStore) -> Vec<String> {
    store.list("input", "").await.unwrap().into_iter().map(|m| m.location.key).collect()
}

fn refusal(report: &DownloadReport) -> &ConnectError {
    match &report.failed[..] {
        [(_, DownloadError::Fetch(FetchError::Connect { source, .. }))] => source,
        other => panic!("expected one refused connection, got {other:?}"),
    }
}

#[tokio::test]
async fn metadata_and_private_addresses_are_refused_before_any_connection() {
    let rig = rig(None);
    for url in [
        "http://169.254.169.254/latest/meta-data/iam",
        "http://10.0.0.1/a.csv",
        "http://metadata.test/a.csv",
        "http://intranet.test/a.csv",
        "http://[fd00:ec2::254]/a.csv",
    ] {
        let report = rig.downloader.run(&direct(url.into(), false)).await.unwrap();
        assert!(matches!(refusal(&report), ConnectError::Refused { .. }), "{url}");
        assert_eq!(report.failed[0].1.class(), ErrorClass::Permanent, "a refusal is not retried");
    }
    assert!(rig.dialer.attempts.lock().unwrap().is_empty(), "no connection was attempted");
    assert_eq!(*rig.resolver.lookups.lock().unwrap(), ["metadata.test", "intranet.test"], "literals are not looked up");
    let state = rig.state.get("asx_eod", "http://169.254.169.254/latest/meta-data/iam").await.unwrap();
    assert!(state.last_error.unwrap().contains("allow_private_addresses"));
}

#[tokio::test]
async fn loopback_is_refused_unless_the_source_allows_it() {
    let server = serve(vec![("/asx_eod_20240102.csv", vec![answer("200 OK", &[], "ASX,20240102,1\n")])]).await;
    let rig = rig(None);
    for host in [server.address.to_string(), format!("loopback.test:{}", server.address.port())] {
        let report = rig.downloader.run(&direct(format!("http://{host}/asx_eod_20240102.csv"), false)).await.unwrap();
        assert!(matches!(refusal(&report), ConnectError::Refused { .. }), "{host}");
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0, "the loopback server that would answer was never reached");

    let report = rig.downloader.run(&direct(format!("http://{}/asx_eod_20240102.csv", server.address), true)).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(inbox(&rig.store).await, ["in/asx/asx_eod_20240102.csv"]);
}

#[tokio::test]
async fn a_redirect_to_the_metadata_service_is_refused() {
    let server = serve(vec![("/a.csv", vec![answer("302 Found", &["Location: http://169.254.169.254/latest/meta-data/"], "")])]).await;
    let rig = rig(Some(&server));
    let report = rig.downloader.run(&direct("http://public.test/a.csv".into(), false)).await.unwrap();
    assert!(matches!(refusal(&report), ConnectError::Refused { .. }));
    let dialed: Vec<SocketAddr> = rig.dialer.attempts.lock().unwrap().clone();
    assert_eq!(dialed, ["203.0.113.10:80".parse().unwrap()], "only the public host was dialed");
    assert!(inbox(&rig.store).await.is_empty());
}

#[tokio::test]
async fn redirects_are_capped() {
    let server = serve(vec![("/loop", vec![answer("301 Moved Permanently", &["Location: /loop"], "")])]).await;
    let rig = rig(Some(&server));
    let report = rig.downloader.run(&direct("http://public.test/loop".into(), false)).await.unwrap();
    assert!(matches!(&report.failed[0].1, DownloadError::Fetch(FetchError::TooManyRedirects { limit: 5, .. })), "{:?}", report.failed);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_500_then_a_200_lands_one_object_and_a_repeat_lands_none() {
    let body = "ASX,20240102,1\n";
    let server = serve(vec![(
        "/asx_eod_20240102.csv",
        vec![
            answer("500 Internal Server Error", &[], "busy"),
            answer("200 OK", &["ETag: \"v1\""], body),
            answer("304 Not Modified", &[], ""),
        ],
    )])
    .await;
    let rig = rig(Some(&server));
    let download = direct("http://public.test/asx_eod_20240102.csv".into(), false);
    let report = rig.downloader.run(&download).await.unwrap();
    assert!(matches!(&report.fetched[..], [(_, FileOutcome::Landed { bytes: 15, .. })]), "{report:?}");
    assert_eq!(inbox(&rig.store).await, ["in/asx/asx_eod_20240102.csv"]);
    assert_eq!(rig.store.get_bytes(&ObjectLocation::new("input", "in/asx/asx_eod_20240102.csv")).await.unwrap().unwrap(), body.as_bytes());

    rig.store.delete(&ObjectLocation::new("input", "in/asx/asx_eod_20240102.csv")).await.unwrap();
    let again = rig.downloader.run(&download).await.unwrap();
    assert_eq!(again.fetched[0].1, FileOutcome::NotModified);
    assert!(inbox(&rig.store).await.is_empty(), "nothing written, staging included");
    let requests = server.requests.lock().unwrap();
    assert!(requests[2].to_ascii_lowercase().contains("if-none-match: \"v1\""), "{}", requests[2]);
}

#[tokio::test]
async fn a_404_fails_at_once_and_is_recorded() {
    let server = serve(vec![]).await;
    let rig = rig(Some(&server));
    let url = "http://public.test/asx_eod_20240102.csv";
    let report = rig.downloader.run(&direct(url.into(), false)).await.unwrap();
    assert_eq!(report.failure_class(), Some(ErrorClass::Permanent));
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1, "not retried");
    let state = rig.state.get("asx_eod", url).await.unwrap();
    assert_eq!((state.last_status, state.consecutive_failures), (Some(404), 1));
    assert!(state.last_error.unwrap().contains("404"));
    assert!(inbox(&rig.store).await.is_empty());
}

#[tokio::test]
async fn a_stalled_body_times_out_and_leaves_nothing_behind() {
    let stalled = ("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nASX,2024".to_owned(), Duration::from_secs(30));
    let server = serve(vec![("/slow.csv", vec![stalled])]).await;
    let mut rig = rig(Some(&server));
    rig.downloader.settings.attempts = 2;
    let report = rig.downloader.run(&direct("http://public.test/slow.csv".into(), false)).await.unwrap();
    assert!(matches!(&report.failed[0].1, DownloadError::Fetch(FetchError::Timeout { .. })), "{:?}", report.failed);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2, "a timeout is retried");
    assert!(inbox(&rig.store).await.is_empty());
}

#[tokio::test]
async fn three_failures_in_a_row_raise_one_alert() {
    let server = serve(vec![("/gone.csv", vec![answer("410 Gone", &[], "")])]).await;
    let rig = rig(Some(&server));
    for _ in 0..4 {
        rig.downloader.run(&direct("http://public.test/gone.csv".into(), false)).await.unwrap();
    }
    let alerts = std::fs::read_to_string(rig._dir.path().join("alerts.jsonl")).unwrap();
    assert_eq!(alerts.lines().count(), 1, "{alerts}");
    assert!(alerts.contains("\"consecutive_failures\":3"));
}

#[tokio::test]
async fn a_link_page_yields_only_its_matching_links() {
    let page = r#"<a href="a_1.csv">1</a> <a href="b.txt">no</a> <a href="/x/a_2.csv">2</a>"#;
    let server = serve(vec![
        ("/list/", vec![answer("200 OK", &[], page)]),
        ("/list/a_1.csv", vec![answer("200 OK", &[], "one")]),
        ("/x/a_2.csv", vec![answer("200 OK", &[], "two")]),
    ])
    .await;
    let rig = rig(Some(&server));
    let download =
        Download { kind: SourceKind::Links, pattern: Some(r"a_\d\.csv$".into()), ..direct("http://public.test/list/".into(), false) };
    let report = rig.downloader.run(&download).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(inbox(&rig.store).await, ["in/asx/a_1.csv", "in/asx/a_2.csv"]);
    let paths: Vec<String> = server.requests.lock().unwrap().iter().map(|r| r.split_whitespace().nth(1).unwrap().to_owned()).collect();
    assert!(!paths.contains(&"/list/b.txt".to_owned()));
}

#[tokio::test]
async fn changed_content_lands_again_and_the_same_content_does_not() {
    let server =
        serve(vec![("/a.csv", vec![answer("200 OK", &[], "one"), answer("200 OK", &[], "two"), answer("200 OK", &[], "two")])]).await;
    let rig = rig(Some(&server));
    let download = direct("http://public.test/a.csv".into(), false);
    let outcomes: Vec<FileOutcome> = {
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            outcomes.extend(rig.downloader.run(&download).await.unwrap().fetched.into_iter().map(|(_, o)| o));
        }
        outcomes
    };
    assert!(
        matches!(&outcomes[..], [FileOutcome::Landed { .. }, FileOutcome::Landed { .. }, FileOutcome::SameContent { .. }]),
        "{outcomes:?}"
    );
    let landed = rig.store.get_bytes(&ObjectLocation::new("input", "in/asx/a.csv")).await.unwrap().unwrap();
    assert_eq!(landed, b"two");
    assert_eq!(inbox(&rig.store).await, ["in/asx/a.csv"], "the staged copy of the unchanged third answer is gone");
}
