//! The handler end to end over the local backends: lifecycle, exactly-once
//! output, replacement of changed files, and hostile archives.

mod support;

use std::sync::Arc;

use inlet_core::catalog::{Catalog, LocalCatalog};
use inlet_core::{Outcome, Registrar, Stage};
use support::*;

const ASX: &str = "AAA,20201201,1,2,0.5,1.5,100\nBBB,20201201,3,4,2.5,3.5,200\nCCC,20201202,5,6,4.5,5.5,300\n";

#[tokio::test]
async fn the_same_file_twice_writes_the_same_files_and_rows() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", ASX.as_bytes()).await;
    let first = h.run("in/asx_eod_a.csv").await;
    assert_eq!(loaded(&first)[0].counts.rows_out, 3);
    let files_before = h.keys("output", "asx_eod/").await;

    h.drop_bytes("in/asx_eod_a.csv", ASX.as_bytes()).await;
    let second = h.run("in/asx_eod_a.csv").await;
    assert_eq!(loaded(&second)[0].replaced_files, 0);
    assert_eq!(h.keys("output", "asx_eod/").await, files_before, "same names, replaced in place");
    assert_eq!(h.parquet_rows("asx_eod").await, 3);
    assert_eq!(h.keys("input", "").await, ["done/asx_eod_a.csv"]);
}

#[tokio::test]
async fn a_changed_file_under_the_same_key_replaces_its_old_rows() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", ASX.as_bytes()).await;
    h.drop_bytes("in/asx_eod_b.csv", b"ZZZ,20201201,1,1,1,1,1\n").await;
    h.run("in/asx_eod_a.csv").await;
    h.run("in/asx_eod_b.csv").await;
    assert_eq!(h.parquet_rows("asx_eod").await, 4);

    // A corrected version of a.csv with one row fewer.
    let corrected = ASX.lines().take(2).collect::<Vec<_>>().join("\n");
    h.drop_bytes("in/asx_eod_a.csv", corrected.as_bytes()).await;
    let outcome = h.run("in/asx_eod_a.csv").await;
    assert_eq!(loaded(&outcome)[0].replaced_files, 1);
    assert_eq!(h.parquet_rows("asx_eod").await, 3, "old version's rows gone, b's rows kept");
}

#[tokio::test]
async fn unmatched_and_unreadable_inputs_end_in_failed_with_a_document() {
    let h = harness();
    h.drop_bytes("in/notes/readme.docx", b"hello").await;
    h.drop_bytes("in/notes/readme.txt", b"hello").await;
    h.drop_bytes("in/buoy.z05.00.20201201.000000.gps.csv", b"Timestamp,Latitude\n2020-12-01 00:00:00,40\n").await;
    let unsupported = h.engine.process("in/notes/readme.docx").await;
    let Outcome::Failed(f) = unsupported else { panic!("{unsupported:?}") };
    assert_eq!(f.stage, Stage::Route);
    assert!(f.error.contains("\"readme.docx\" is neither an archive"), "{}", f.error);
    let unmatched = h.engine.process("in/notes/readme.txt").await;
    let Outcome::Failed(f) = unmatched else { panic!("{unmatched:?}") };
    assert_eq!(f.stage, Stage::Route);
    assert!(f.error.contains("no pipeline's trigger matches"));

    let bad_header = h.engine.process("in/buoy.z05.00.20201201.000000.gps.csv").await;
    let Outcome::Failed(f) = bad_header else { panic!("{bad_header:?}") };
    assert_eq!((f.stage, f.pipeline.as_deref()), (Stage::Convert, Some("a2e_buoy_ingest")));
    assert!(f.error.contains("\"DataTimeStamp\" is not in the header"), "{}", f.error);

    let keys = h.keys("input", "").await;
    assert_eq!(
        keys,
        [
            "failed/buoy.z05.00.20201201.000000.gps.csv",
            "failed/buoy.z05.00.20201201.000000.gps.csv.error.json",
            "failed/notes/readme.docx",
            "failed/notes/readme.docx.error.json",
            "failed/notes/readme.txt",
            "failed/notes/readme.txt.error.json",
        ]
    );
    let document = std::fs::read_to_string(h.root.join("buckets/input/failed/notes/readme.docx.error.json")).unwrap();
    let document: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(document["stage"], "route");
    assert!(document["retry"].as_str().unwrap().contains("inlet redrive notes/readme.docx"));
    assert!(h.keys("output", "").await.is_empty(), "a failure writes no output");
}

#[tokio::test]
async fn a_zip_slip_archive_is_refused_whole_and_writes_nothing_outside() {
    let h = harness();
    let archive = zip_of(&[("asx_eod_ok.csv", ASX.as_bytes()), ("../../../../escaped.csv", b"x")]);
    h.drop_bytes("in/evil.zip", &archive).await;
    let outcomes = h.run("in/evil.zip").await;
    let Outcome::Failed(f) = &outcomes[0] else { panic!("{outcomes:?}") };
    assert_eq!(f.stage, Stage::Archive);
    assert_eq!(f.member.as_deref(), Some("../../../../escaped.csv"));
    assert_eq!(h.keys("input", "").await, ["failed/evil.zip", "failed/evil.zip.error.json"]);
    assert!(!h.root.parent().unwrap().join("escaped.csv").exists());
    assert!(!h.root.join("escaped.csv").exists());
}

#[tokio::test]
async fn nested_archives_route_their_members() {
    let h = harness();
    let inner = zip_of(&[("asx_eod_inner.csv", ASX.as_bytes())]);
    let outer = zip_of(&[("batch.zip", &inner), ("__MACOSX/._batch.zip", b"junk")]);
    h.drop_bytes("in/drop/outer.zip", &outer).await;
    let outcomes = h.run("in/drop/outer.zip").await;
    let Outcome::Expanded { members, skipped, .. } = &outcomes[0] else { panic!("{outcomes:?}") };
    assert_eq!(members, &["in/drop/outer/batch/asx_eod_inner.csv"]);
    assert_eq!(skipped, &["__MACOSX/._batch.zip"]);
    assert_eq!(loaded(&outcomes)[0].counts.rows_out, 3);
    assert_eq!(h.keys("input", "").await, ["done/drop/outer.zip", "done/drop/outer/batch/asx_eod_inner.csv"]);
}

#[tokio::test]
async fn the_catalog_holds_tables_units_and_partitions() {
    let h = harness();
    let archive = std::fs::read(repo().join("data/buoy.z05.00.20210115.000000.zip")).unwrap();
    h.drop_bytes("in/buoy.z05.00.20210115.000000.zip", &archive).await;
    let outcomes = h.run("in/buoy.z05.00.20210115.000000.zip").await;
    assert_eq!(loaded(&outcomes).len(), 4);

    let table = h.catalog.get_table("inlet", "a2e_buoy_conductivity").await.unwrap().unwrap().table;
    let columns: Vec<(&str, &str, Option<&str>)> =
        table.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.units())).collect();
    assert_eq!(
        columns,
        [
            ("time", "timestamp", None),
            ("surface_temperature", "double", Some("C")),
            ("conductivity", "double", Some("Siemens/m")),
            ("qc_surface_temperature", "int", None),
            ("qc_conductivity", "int", None),
        ]
    );
    let keys: Vec<_> = table.partition_keys.iter().map(|k| (k.name.as_str(), k.data_type.as_str())).collect();
    assert_eq!(keys, [("location", "string"), ("year", "string"), ("month", "string")]);
    let partitions = h.catalog.list_partitions("inlet", "a2e_buoy_conductivity").await.unwrap();
    assert_eq!(partitions.len(), 1);
    assert_eq!(partitions[0].values, ["humboldt", "2021", "01"]);
    assert_eq!(partitions[0].location, "s3://output/a2e_buoy_conductivity/location=humboldt/year=2021/month=01/");
}

#[tokio::test]
async fn repair_rebuilds_a_lost_catalog_from_the_files_alone() {
    let h = harness();
    let archive = std::fs::read(repo().join("data/buoy.z05.00.20210115.000000.zip")).unwrap();
    h.drop_bytes("in/buoy.z05.00.20210115.000000.zip", &archive).await;
    h.drop_bytes("in/asx_eod_a.csv", b"AAA,20201201,1,2,0.5,1.5,100\nBAD,20201201,-1,2,0.5,1.5,100\n").await;
    h.run("in/buoy.z05.00.20210115.000000.zip").await;
    h.run("in/asx_eod_a.csv").await;
    let before = h.catalog.list_tables("inlet").await.unwrap();
    assert_eq!(before.len(), 6, "four buoy kinds, asx_eod and its rejects");

    std::fs::remove_file(h.root.join("catalog.json")).unwrap();
    let catalog = Arc::new(LocalCatalog::new(h.root.join("catalog.json")));
    let report = Registrar::new(h.store.clone(), catalog.clone(), "output", "inlet").repair().await.unwrap();
    assert_eq!(report.tables.len(), 6);
    assert_eq!(report.partitions_added, 5);
    assert_eq!(catalog.list_tables("inlet").await.unwrap(), before, "units, types and partition keys all come back");
    // Registering again adds nothing.
    assert_eq!(Registrar::new(h.store.clone(), catalog, "output", "inlet").repair().await.unwrap().partitions_added, 0);
}

#[tokio::test]
async fn a_duplicate_delivery_after_processing_is_a_no_op() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", ASX.as_bytes()).await;
    h.run("in/asx_eod_a.csv").await;
    let again = h.engine.process("in/asx_eod_a.csv").await;
    assert_eq!(again, Outcome::Gone { source: "s3://input/in/asx_eod_a.csv".into() });
    assert_eq!(h.keys("input", "").await, ["done/asx_eod_a.csv"], "no spurious failed/ entry");
    assert_eq!(h.parquet_rows("asx_eod").await, 3);
}

#[tokio::test]
async fn a_file_processed_from_direct_is_the_same_source_as_its_inbox_twin() {
    let h = harness();
    let archive = zip_of(&[("asx_eod_z.csv", ASX.as_bytes())]);
    h.drop_bytes("direct/asx_eod_a.csv", ASX.as_bytes()).await;
    h.drop_bytes("direct/batch.zip", &archive).await;
    let direct = [h.run("direct/asx_eod_a.csv").await, h.run("direct/batch.zip").await].concat();
    assert_eq!(
        loaded(&direct).iter().map(|r| r.source.as_str()).collect::<Vec<_>>(),
        ["s3://input/in/asx_eod_a.csv", "s3://input/in/batch/asx_eod_z.csv"]
    );
    let files = h.keys("output", "asx_eod/").await;
    assert_eq!(h.parquet_rows("asx_eod").await, 6);

    // The same files dropped later through in/ replace their rows in place.
    h.drop_bytes("in/asx_eod_a.csv", ASX.as_bytes()).await;
    h.drop_bytes("in/batch.zip", &archive).await;
    h.run("in/asx_eod_a.csv").await;
    let again = h.run("in/batch.zip").await;
    let Outcome::Expanded { unchanged, .. } = &again[0] else { panic!("{again:?}") };
    assert_eq!(unchanged, &["in/batch/asx_eod_z.csv"], "the member loaded from direct/ counts as loaded");
    assert_eq!(h.keys("output", "asx_eod/").await, files);
    assert_eq!(h.parquet_rows("asx_eod").await, 6, "no row doubled");
    assert_eq!(h.keys("input", "").await, ["done/asx_eod_a.csv", "done/batch.zip", "done/batch/asx_eod_z.csv"]);
}

#[tokio::test]
async fn what_processing_returned_can_be_read_back_from_the_bookkeeping() {
    let h = harness();
    h.drop_bytes("in/asx_eod_a.csv", ASX.as_bytes()).await;
    h.drop_bytes("in/pack.zip", &zip_of(&[("asx_eod_p.csv", ASX.as_bytes())])).await;
    h.drop_bytes("in/notes.txt", b"hello").await;
    assert_eq!(h.engine.recorded_outcome("in/asx_eod_a.csv", None).await.unwrap(), None, "still to do");
    for key in ["in/asx_eod_a.csv", "in/pack.zip", "in/notes.txt"] {
        let returned = h.engine.process(key).await;
        let recorded = h.engine.recorded_outcome(key, None).await.unwrap().expect("recorded");
        match (&returned, &recorded) {
            (Outcome::Failed(a), Outcome::Failed(b)) => assert_eq!((&a.error, a.stage, b.filed), (&b.error, b.stage, true)),
            _ => assert_eq!(returned, recorded, "{key}"),
        }
    }
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    assert_eq!(h.engine.recorded_outcome("in/asx_eod_a.csv", Some(later)).await.unwrap(), None, "an older result is not this upload's");
}

#[tokio::test]
async fn an_archives_members_carry_its_correlation_id_into_files_failures_and_registration() {
    let h = harness();
    h.drop_bytes("in/pack.zip", &zip_of(&[("asx_eod_p.csv", ASX.as_bytes()), ("notes.txt", b"hello")])).await;
    h.drop_bytes("in/asx_eod_alone.csv", ASX.as_bytes()).await;
    let outcomes = h.run("in/pack.zip").await;
    let member = loaded(&outcomes)[0].clone();
    let Some(Outcome::Failed(failure)) = outcomes.iter().find(|o| matches!(o, Outcome::Failed(_))) else { panic!("{outcomes:?}") };
    assert_eq!(member.correlation_id.len(), 16);
    assert_eq!(failure.correlation_id.as_deref(), Some(member.correlation_id.as_str()), "both members carry the archive's id");
    let document = std::fs::read(h.root.join("buckets/input/failed/pack/notes.txt.error.json")).unwrap();
    assert!(String::from_utf8(document).unwrap().contains(&member.correlation_id), "the error document holds it");

    let alone = h.engine.process("in/asx_eod_alone.csv").await;
    let Outcome::Loaded(alone) = alone else { panic!("{alone:?}") };
    assert_ne!(alone.correlation_id, member.correlation_id, "an input of its own has its own id");
    let registered = h.registrar.register(&member.files).await.unwrap();
    assert_eq!(
        registered.correlation_ids.iter().map(String::as_str).collect::<Vec<_>>(),
        [member.correlation_id.as_str()],
        "read back from the files' metadata"
    );

    // A processed member's origin is used up: the same key uploaded on its
    // own later is a journey of its own.
    assert!(!h.root.join("buckets/output/_inlet/origins").read_dir().is_ok_and(|mut d| d.next().is_some()), "no origin is left");
    h.drop_bytes("in/pack/asx_eod_p.csv", (ASX.to_owned() + "\n").as_bytes()).await;
    let Outcome::Loaded(again) = h.engine.process("in/pack/asx_eod_p.csv").await else { panic!("loads") };
    assert_ne!(again.correlation_id, member.correlation_id, "a later upload of a member's key has its own id");
}
