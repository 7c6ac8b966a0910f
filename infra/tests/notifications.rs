//! S3 refuses two notification configurations of one bucket whose filters
//! overlap (moto accepts them), so a stack that passes on moto could fail on
//! AWS. Checked here over the synthesized templates.

use std::path::Path;

use serde_yaml_ng::Value;

/// (prefix, suffix) of each configuration.
fn filters(bucket: &Value) -> Vec<(String, String)> {
    let configurations =
        bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"].as_sequence().cloned().unwrap_or_default();
    configurations
        .iter()
        .map(|c| {
            let rule = |name: &str| {
                c["Filter"]["S3Key"]["Rules"]
                    .as_sequence()
                    .and_then(|rules| rules.iter().find(|r| r["Name"].as_str() == Some(name)))
                    .map(|r| r["Value"].as_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            (rule("prefix"), rule("suffix"))
        })
        .collect()
}

/// Two filters overlap when some key could match both: one prefix extends
/// the other, and one suffix extends the other.
fn overlap(a: &(String, String), b: &(String, String)) -> bool {
    let prefixes = a.0.starts_with(&b.0) || b.0.starts_with(&a.0);
    let suffixes = a.1.ends_with(&b.1) || b.1.ends_with(&a.1);
    prefixes && suffixes
}

#[test]
fn no_two_notifications_of_a_bucket_overlap() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudformation");
    let mut buckets_checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let template: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let Some(resources) = template["Resources"].as_mapping() else { continue };
        for (id, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::S3::Bucket") {
                continue;
            }
            buckets_checked += 1;
            let filters = filters(resource);
            for (i, a) in filters.iter().enumerate() {
                for b in &filters[i + 1..] {
                    assert!(!overlap(a, b), "{id:?}: notifications {a:?} and {b:?} overlap; S3 refuses that");
                }
            }
        }
    }
    assert!(buckets_checked >= 3, "the app stack's buckets were read");
}

#[test]
fn the_input_prefix_reaches_one_queue_whatever_the_suffix() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cloudformation/lambda.cfn.yaml");
    let template: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let filters = filters(&template["Resources"]["InputBucket"]);
    let inbox: Vec<&(String, String)> = filters.iter().filter(|(prefix, _)| prefix.starts_with(inlet_contract::prefixes::INBOX)).collect();
    assert_eq!(inbox, [&(inlet_contract::prefixes::INBOX.to_owned(), String::new())], "DATA.ZIP and notes.xyz are notified too");
    // The rest are the backfills' day markers, outside in/.
    assert!(filters.iter().any(|(prefix, suffix)| prefix == "cyi_exports/" && suffix == "/_SUCCESS"), "{filters:?}");
}

#[test]
fn overlap_is_detected() {
    let f = |p: &str, s: &str| (p.to_owned(), s.to_owned());
    assert!(overlap(&f("in/", ".zip"), &f("in/", "")));
    assert!(overlap(&f("in/", ".gz"), &f("in/", ".tar.gz")));
    assert!(overlap(&f("", ".parquet"), &f("t/", ".parquet")));
    assert!(!overlap(&f("in/", ".zip"), &f("in/", ".csv")));
    assert!(!overlap(&f("in/", ""), &f("done/", "")));
}
