//! The engine under failure, over the local backends with injected faults:
//! transient errors leave the input in place and change nothing, permanent
//! ones file it at once; an archive replaces its previous content; schema
//! updates from concurrent writers keep every column; dead runs' scratch goes.

mod support;

use std::sync::Arc;

use inlet_core::catalog::{self, Catalog, LocalCatalog, PartitionDefinition};
use inlet_core::faults::Op;
use inlet_core::storage::{ObjectLocation, ObjectStore};
use inlet_core::{ErrorClass, Outcome, Stage, conformance};
use support::*;

const V1: &str = "AAA,20201201,1,2,0.5,1.5,100\nBBB,20201201,3,4,2.5,3.5,200\nCCC,20210105,5,6,4.5,5.5,300\n";
const V2: &str = "DDD,20201202,1,2,0.5,1.5,100\nEEE,20220301,3,4,2.5,3.5,200\n";

#[tokio::test]
async fn a_503_on_the_manifest_read_of_a_changed_upload_is_retried_and_rows_are_not_doubled() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", V1.as_bytes()).await;
    h.run("in/asx_eod_a.csv").await;
    assert_eq!(h.strings("asx_eod", "ticker").await, ["AAA", "BBB", "CCC"]);

    h.drop_bytes("in/asx_eod_a.csv", V2.as_bytes()).await;
    h.store.fail(Op::Get, "_inlet/manifests/", ErrorClass::Transient, 1);
    let outcomes = h.run("in/asx_eod_a.csv").await;
    let [Outcome::Retry(deferral)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert_eq!(deferral.class, ErrorClass::Transient);
    assert!(deferral.error.contains("SlowDown"), "{}", deferral.error);
    assert_eq!(h.keys("input", "").await, ["done/asx_eod_a.csv", "in/asx_eod_a.csv"], "the input waits in in/; nothing is in failed/");

    let outcomes = h.run("in/asx_eod_a.csv").await;
    assert!(matches!(outcomes.as_slice(), [Outcome::Loaded(_)]), "{outcomes:?}");
    assert_eq!(h.strings("asx_eod", "ticker").await, ["DDD", "EEE"], "exactly the new version's rows");
}

#[tokio::test]
async fn an_input_a_duplicate_delivery_loaded_under_this_ones_read_is_gone_not_failed() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", V1.as_bytes()).await;
    h.store.move_before(Op::Get, "in/asx_eod_a.csv", "done/asx_eod_a.csv");
    let outcomes = h.run("in/asx_eod_a.csv").await;
    assert_eq!(outcomes, [Outcome::Gone { source: "s3://input/in/asx_eod_a.csv".into() }]);
    assert_eq!(h.keys("input", "").await, ["done/asx_eod_a.csv"], "no error document contradicts the other delivery's load");
}

#[tokio::test]
async fn a_manifest_that_does_not_parse_stops_the_load_instead_of_reading_as_empty() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", V1.as_bytes()).await;
    h.run("in/asx_eod_a.csv").await;
    let manifest = h.keys("output", "_inlet/manifests/").await.pop().unwrap();
    h.store.put_bytes(&ObjectLocation::new("output", &manifest), b"{\"source\": \"cut off".to_vec()).await.unwrap();
    h.drop_bytes("in/asx_eod_a.csv", V2.as_bytes()).await;
    let outcomes = h.run("in/asx_eod_a.csv").await;
    let [Outcome::Retry(deferral)] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    assert!(deferral.error.contains("is not a readable document"), "{}", deferral.error);
    assert_eq!(h.strings("asx_eod", "ticker").await, ["AAA", "BBB", "CCC"], "nothing was written beside the old rows");
}

#[tokio::test]
async fn a_head_that_fails_transiently_never_moves_the_input() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", V1.as_bytes()).await;
    h.store.fail(Op::Head, "in/asx_eod_a.csv", ErrorClass::Transient, 1);
    let outcomes = h.run("in/asx_eod_a.csv").await;
    assert!(matches!(outcomes.as_slice(), [Outcome::Retry(d)] if d.stage == Stage::Fetch), "{outcomes:?}");
    assert!(h.store.calls(Op::Rename).is_empty(), "no move, guarded or not");
    assert_eq!(h.keys("input", "").await, ["in/asx_eod_a.csv"]);
    assert!(h.keys("output", "").await.is_empty());
}

#[tokio::test]
async fn access_denied_is_filed_at_once_and_slow_down_is_retried() {
    let h = harness();
    h.drop_bytes("in/asx_eod_denied.csv", V1.as_bytes()).await;
    h.drop_bytes("in/asx_eod_slow.csv", V2.as_bytes()).await;
    h.store.fail(Op::Get, "in/asx_eod_denied.csv", ErrorClass::Permanent, 1);
    h.store.fail(Op::Get, "in/asx_eod_slow.csv", ErrorClass::Transient, 1);

    let denied = h.run("in/asx_eod_denied.csv").await;
    let [Outcome::Failed(failure)] = denied.as_slice() else { panic!("{denied:?}") };
    assert!(failure.filed && failure.error.contains("AccessDenied"), "{failure:?}");
    let slow = h.run("in/asx_eod_slow.csv").await;
    assert!(matches!(slow.as_slice(), [Outcome::Retry(_)]), "{slow:?}");
    assert_eq!(h.keys("input", "").await, ["failed/asx_eod_denied.csv", "failed/asx_eod_denied.csv.error.json", "in/asx_eod_slow.csv"]);
    let again = h.run("in/asx_eod_slow.csv").await;
    assert!(matches!(again.as_slice(), [Outcome::Loaded(_)]), "{again:?}");
}

#[tokio::test]
async fn a_failed_delete_of_stale_outputs_is_finished_by_the_retry() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", V1.as_bytes()).await;
    h.run("in/asx_eod_a.csv").await;
    h.drop_bytes("in/asx_eod_a.csv", V2.as_bytes()).await;
    h.store.fail(Op::Delete, "asx_eod/year=2021/", ErrorClass::Transient, 1);
    let outcomes = h.run("in/asx_eod_a.csv").await;
    assert!(matches!(outcomes.as_slice(), [Outcome::Retry(_)]), "{outcomes:?}");
    let outcomes = h.run("in/asx_eod_a.csv").await;
    assert!(matches!(outcomes.as_slice(), [Outcome::Loaded(_)]), "{outcomes:?}");
    assert_eq!(h.strings("asx_eod", "ticker").await, ["DDD", "EEE"], "the stale file listed in the manifest was removed on the retry");
}

#[tokio::test]
async fn an_archive_dropped_again_without_a_member_loses_that_members_rows() {
    let h = harness();
    let one = "AAA,20201201,1,2,0.5,1.5,100\n";
    let two = "BBB,20201201,3,4,2.5,3.5,200\n";
    h.drop_bytes("in/DAILY.ZIP", &zip_of(&[("asx_eod_1.csv", one.as_bytes()), ("asx_eod_2.csv", two.as_bytes())])).await;
    h.run("in/DAILY.ZIP").await;
    assert_eq!(h.strings("asx_eod", "ticker").await, ["AAA", "BBB"]);

    h.drop_bytes("in/DAILY.ZIP", &zip_of(&[("asx_eod_1.csv", one.as_bytes())])).await;
    let outcomes = h.run("in/DAILY.ZIP").await;
    let Outcome::Expanded { members, unchanged, removed, .. } = &outcomes[0] else { panic!("{outcomes:?}") };
    assert!(members.is_empty(), "the unchanged member is not written again: {members:?}");
    assert_eq!(unchanged, &["in/DAILY/asx_eod_1.csv"]);
    assert_eq!(removed, &["in/DAILY/asx_eod_2.csv"]);
    assert_eq!(h.strings("asx_eod", "ticker").await, ["AAA"], "the gone member's rows are gone");
}

#[tokio::test]
async fn upper_case_suffixes_flow_and_unknown_ones_are_filed() {
    let h = harness();
    h.drop_bytes("in/asx_eod_X.CSV", V1.as_bytes()).await;
    h.drop_bytes("in/notes.xyz", b"hello").await;
    let csv = h.run("in/asx_eod_X.CSV").await;
    let [Outcome::Loaded(report)] = csv.as_slice() else { panic!("{csv:?}") };
    assert_eq!((report.table.as_str(), report.counts.rows_out), ("asx_eod", 3));
    assert_eq!(report.done_key, "done/asx_eod_X.CSV");
    let notes = h.run("in/notes.xyz").await;
    let [Outcome::Failed(f)] = notes.as_slice() else { panic!("{notes:?}") };
    assert!(f.error.contains("is neither an archive"), "{}", f.error);
    let marker = h.engine.process("in/folder/").await;
    assert!(matches!(marker, Outcome::Ignored { .. }), "{marker:?}");
}

#[tokio::test]
async fn the_local_backends_pass_the_conformance_suites() {
    let dir = tempfile::tempdir().unwrap();
    let store = inlet_core::storage::LocalObjectStore::new(dir.path().join("buckets"));
    conformance::object_store(&store, "conformance").await;
    let catalog = LocalCatalog::new(dir.path().join("catalog.json"));
    conformance::catalog(&catalog, "inlet", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_schema_updates_that_each_add_a_column_keep_both() {
    let dir = tempfile::tempdir().unwrap();
    conformance::concurrent_schema_updates(Arc::new(LocalCatalog::new(dir.path().join("catalog.json"))), "inlet").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_writers_lose_no_partition() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.json");
    let mut writers = Vec::new();
    for writer in 0..8 {
        let catalog = LocalCatalog::new(&path);
        writers.push(tokio::spawn(async move {
            let table = conformance::sample_table("inlet", "t", &[("time", "timestamp"), (&format!("c{writer}"), "double")]);
            let partitions: Vec<PartitionDefinition> = (0..12)
                .map(|month| PartitionDefinition {
                    values: vec![format!("{}-{month:02}", 2000 + writer)],
                    location: format!("s3://o/t/{writer}/{month}/"),
                })
                .collect();
            catalog::register(&catalog, &table, &partitions).await
        }));
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let catalog = LocalCatalog::new(&path);
    assert_eq!(catalog.list_partitions("inlet", "t").await.unwrap().len(), 96);
    assert_eq!(catalog.get_table("inlet", "t").await.unwrap().unwrap().table.columns.len(), 9);
}

#[tokio::test]
async fn scratch_left_by_a_killed_run_is_swept_and_a_live_one_is_kept() {
    let h = harness();
    let scratch = h.root.join("scratch");
    let dead = scratch.join("inlet-killed");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(dead.join(".lock"), b"").unwrap();
    std::fs::write(dead.join("data-1.parquet"), vec![0u8; 1024]).unwrap();
    let live = inlet_core::scratch::Scratch::create(Some(&scratch)).unwrap();
    let removed = h.engine.sweep_scratch().unwrap();
    assert_eq!(removed, [dead]);
    assert!(live.path().exists());
}
