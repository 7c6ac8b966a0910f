//! The custom resources speak CloudFormation's protocol on every path. Answers
//! go over real HTTP to a loopback server standing in for the pre-signed
//! ResponseURL; the buckets are moto's.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use inlet_aws::BucketHousekeeping;
use inlet_lambda::custom_resource::{self, CleanTestFiles, CreateFolders, Created, HttpResponder, Resource};
use serde_json::{Value, json};
use support::Moto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback HTTP server that records each PUT body, answering 500 to the
/// first `failures` requests.
struct ResponseUrl {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    requests: Arc<AtomicUsize>,
}

impl ResponseUrl {
    async fn start(failures: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/response?X-Amz-Signature=abc", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (seen, count) = (bodies.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the connection closed before the request ended");
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
                        assert!(head.starts_with("put /response?x-amz-signature=abc "), "{head}");
                        assert!(!head.contains("content-type"), "the pre-signed URL is signed without a content type: {head}");
                        let length =
                            head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().trim().parse::<usize>().unwrap();
                        break (end + 4, length);
                    }
                };
                while raw.len() < head_end + length {
                    let n = socket.read(&mut buf).await.unwrap();
                    raw.extend_from_slice(&buf[..n]);
                }
                let attempt = count.fetch_add(1, Ordering::SeqCst);
                let status = if attempt < failures { "500 Internal Server Error" } else { "200 OK" };
                if attempt >= failures {
                    seen.lock().unwrap().push(serde_json::from_slice(&raw[head_end..head_end + length]).unwrap());
                }
                socket.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
            }
        });
        Self { url, bodies, requests }
    }

    fn answers(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

fn request(kind: &str, url: &str, physical_id: Option<&str>, properties: Value) -> Value {
    let mut event = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:inlet-test-create-folders",
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/inlet-test/guid",
        "RequestId": format!("request-{kind}"),
        "LogicalResourceId": "InputFolders",
        "ResourceType": "Custom::Folders",
        "ResourceProperties": properties,
    });
    if let Some(id) = physical_id {
        event["PhysicalResourceId"] = json!(id);
    }
    if kind == "Update" {
        event["OldResourceProperties"] = event["ResourceProperties"].clone();
    }
    event
}

fn a_minute() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

async fn answer<R: Resource>(resource: R, event: Value, deadline: SystemTime) -> Value {
    let responder = HttpResponder::new();
    custom_resource::handle(Arc::new(resource), &responder, event, deadline).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_folders_makes_markers_keeps_its_id_and_deletes_cleanly() {
    let moto = Moto::start().await;
    moto.s3().create_bucket().bucket("input").send().await.unwrap();
    let server = ResponseUrl::start(0).await;
    let folders = || CreateFolders::new(BucketHousekeeping::new(moto.s3()));
    let properties = json!({"ServiceToken": "arn", "Bucket": "input", "Folders": ["in/", "done/", "failed"]});

    let created = answer(folders(), request("Create", &server.url, None, properties.clone()), a_minute()).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(created["RequestId"], "request-Create");
    assert_eq!(created["LogicalResourceId"], "InputFolders");
    assert_eq!(created["StackId"], "arn:aws:cloudformation:us-east-1:123456789012:stack/inlet-test/guid");
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let listed = moto.s3().list_objects_v2().bucket("input").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["done/", "failed/", "in/"]);

    let updated = answer(folders(), request("Update", &server.url, Some(&id), properties.clone()), a_minute()).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(updated["PhysicalResourceId"], id.as_str(), "the same properties keep the same id, so nothing is replaced");

    let deleted = answer(folders(), request("Delete", &server.url, Some(&id), properties), a_minute()).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(deleted["PhysicalResourceId"], id.as_str());
    assert_eq!(server.answers().len(), 3, "every request is answered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_is_answered_and_the_delete_that_follows_succeeds() {
    let moto = Moto::start().await;
    let server = ResponseUrl::start(0).await;
    let folders = || CreateFolders::new(BucketHousekeeping::new(moto.s3()));

    let created =
        answer(folders(), request("Create", &server.url, None, json!({"Bucket": "no-such-bucket", "Folders": ["in/"]})), a_minute()).await;
    assert_eq!(created["Status"], "FAILED");
    let reason = created["Reason"].as_str().unwrap();
    assert!(reason.contains("no-such-bucket") && reason.contains("PutObject"), "{reason}");

    // CloudFormation rolls back by deleting what it was told exists.
    let id = created["PhysicalResourceId"].as_str().unwrap();
    let deleted = answer(folders(), request("Delete", &server.url, Some(id), json!({"Bucket": "no-such-bucket"})), a_minute()).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");

    let missing = answer(folders(), request("Create", &server.url, None, json!({"Folders": ["in/"]})), a_minute()).await;
    assert_eq!(missing["Status"], "FAILED");
    assert!(missing["Reason"].as_str().unwrap().contains("Bucket"), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_test_files_empties_objects_versions_and_unfinished_uploads() {
    let moto = Moto::start().await;
    let s3 = moto.s3();
    for bucket in ["test-input", "test-output"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    s3.put_bucket_versioning()
        .bucket("test-input")
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .unwrap();
    for body in ["one", "two"] {
        s3.put_object().bucket("test-input").key("in/a.csv").body(ByteStream::from_static(body.as_bytes())).send().await.unwrap();
    }
    s3.delete_object().bucket("test-input").key("in/a.csv").send().await.unwrap();
    for i in 0..1_050 {
        s3.put_object().bucket("test-output").key(format!("t/{i:04}.parquet")).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    s3.create_multipart_upload().bucket("test-output").key("t/big.parquet").send().await.unwrap();

    let server = ResponseUrl::start(0).await;
    let cleaner = || CleanTestFiles::new(BucketHousekeeping::new(moto.s3()));
    let properties = json!({"Buckets": ["test-input", "test-output", "already-deleted"]});
    let created = answer(cleaner(), request("Create", &server.url, None, properties.clone()), a_minute()).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(s3.list_objects_v2().bucket("test-output").send().await.unwrap().key_count(), Some(1_000), "Create empties nothing");

    let id = created["PhysicalResourceId"].as_str().unwrap();
    let deleted = answer(cleaner(), request("Delete", &server.url, Some(id), properties), a_minute()).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    for bucket in ["test-input", "test-output"] {
        let versions = s3.list_object_versions().bucket(bucket).send().await.unwrap();
        assert!(versions.versions().is_empty() && versions.delete_markers().is_empty(), "{bucket} still holds versions");
        assert!(s3.list_multipart_uploads().bucket(bucket).send().await.unwrap().uploads().is_empty(), "{bucket} still holds uploads");
        s3.delete_bucket().bucket(bucket).send().await.expect("an emptied bucket can be deleted");
    }
}

struct Panics;
impl Resource for Panics {
    async fn apply(&self, _: Value) -> Result<Created, String> {
        panic!("index out of range in the resource")
    }
    async fn remove(&self, _: &str, _: Value) -> Result<(), String> {
        unreachable!()
    }
}

struct Hangs;
impl Resource for Hangs {
    async fn apply(&self, _: Value) -> Result<Created, String> {
        tokio::time::sleep(Duration::from_secs(600)).await;
        unreachable!()
    }
    async fn remove(&self, _: &str, _: Value) -> Result<(), String> {
        tokio::time::sleep(Duration::from_secs(600)).await;
        unreachable!()
    }
}

#[tokio::test]
async fn a_panic_is_answered_as_a_failure() {
    let server = ResponseUrl::start(0).await;
    let answered = answer(Panics, request("Create", &server.url, None, json!({})), a_minute()).await;
    assert_eq!(answered["Status"], "FAILED");
    assert!(answered["Reason"].as_str().unwrap().contains("panicked: index out of range in the resource"), "{answered}");
    assert_eq!(server.answers(), [answered]);
}

#[tokio::test]
async fn a_deadline_about_to_pass_is_answered_in_time() {
    let server = ResponseUrl::start(0).await;
    let started = Instant::now();
    let deadline = SystemTime::now() + custom_resource::ANSWER_MARGIN + Duration::from_secs(1);
    let answered = answer(Hangs, request("Delete", &server.url, Some("folders:x"), json!({})), deadline).await;
    assert!(started.elapsed() < custom_resource::ANSWER_MARGIN, "answered {:?} after the start", started.elapsed());
    assert_eq!(answered["Status"], "FAILED");
    assert_eq!(answered["PhysicalResourceId"], "folders:x", "a failure keeps the id CloudFormation knows");
    assert!(answered["Reason"].as_str().unwrap().contains("ran out of time"), "{answered}");
}

#[tokio::test]
async fn an_unreadable_request_is_answered_when_it_names_a_response_url() {
    let server = ResponseUrl::start(0).await;
    let event = json!({"RequestType": "Explode", "ResponseURL": server.url, "RequestId": "r1", "StackId": "s", "LogicalResourceId": "L"});
    let answered = answer(Panics, event, a_minute()).await;
    assert_eq!(answered["Status"], "FAILED");
    assert_eq!(answered["RequestId"], "r1");
    assert!(answered["Reason"].as_str().unwrap().contains("not a CloudFormation custom-resource request"), "{answered}");

    let responder = HttpResponder::new();
    let error = custom_resource::handle(Arc::new(Panics), &responder, json!({"hello": 1}), a_minute()).await.unwrap_err();
    assert!(error.to_string().contains("no ResponseURL"), "{error}");
}

#[tokio::test]
async fn a_failing_response_url_is_retried() {
    let server = ResponseUrl::start(2).await;
    let answered = answer(Panics, request("Delete", &server.url, Some("inlet-never-created"), json!({})), a_minute()).await;
    assert_eq!(answered["Status"], "SUCCESS", "deleting what was never created succeeds without running the resource's code");
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
    assert_eq!(server.answers().len(), 1);
}
