use super::*;

const NOTICE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<TED_EXPORT xmlns="http://publications.europa.eu/resource/schema/ted/R2.0.9/publication" xmlns:n2016="ted/2016/nuts" DOC_ID="000001-2024" EDITION="2024001">
  <CODED_DATA_SECTION>
    <REF_OJS><NO_OJ>1</NO_OJ><DATE_PUB>20240102</DATE_PUB></REF_OJS>
    <NOTICE_DATA>
      <NO_DOC_OJS>2024/S 001-000001</NO_DOC_OJS>
      <ORIGINAL_CPV CODE="45000000">Construction work</ORIGINAL_CPV>
      <ORIGINAL_CPV CODE="71000000">Architectural &amp; engineering services</ORIGINAL_CPV>
      <n2016:PERFORMANCE_NUTS CODE="FR101"/>
    </NOTICE_DATA>
  </CODED_DATA_SECTION>
  <FORM_SECTION>
    <F03_2014 LG="EN" CATEGORY="ORIGINAL">
      <OBJECT_CONTRACT><TITLE><P>Road works</P><P>in Paris</P></TITLE></OBJECT_CONTRACT>
      <AWARD_CONTRACT ITEM="1"><AWARDED_CONTRACT><VAL_TOTAL CURRENCY="EUR">1000.50</VAL_TOTAL></AWARDED_CONTRACT></AWARD_CONTRACT>
      <AWARD_CONTRACT ITEM="2"><AWARDED_CONTRACT><VAL_TOTAL CURRENCY="EUR">250</VAL_TOTAL></AWARDED_CONTRACT></AWARD_CONTRACT>
    </F03_2014>
    <F03_2014 LG="FR" CATEGORY="TRANSLATION">
      <OBJECT_CONTRACT><TITLE><P>Travaux routiers</P></TITLE></OBJECT_CONTRACT>
    </F03_2014>
  </FORM_SECTION>
</TED_EXPORT>
"#;

fn options(fields: &[&str], repeated: &[(&str, RepeatRule)]) -> XmlOptions {
    XmlOptions {
        record_element: None,
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        repeated: repeated.iter().map(|(path, rule)| RepeatedPath { path: (*path).to_owned(), rule: *rule, separator: None }).collect(),
    }
}

fn read_all(options: XmlOptions, container: XmlContainer, input: &[u8]) -> Result<Vec<RawBatch>, ConvertError> {
    let mut reader = XmlReader::new(options, container, input);
    let mut batches = Vec::new();
    while let Some(batch) = reader.next_batch()? {
        batches.push(batch);
    }
    Ok(batches)
}

fn rows(batches: &[RawBatch]) -> Vec<Vec<String>> {
    batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |row| (0..b.num_columns()).map(|c| b.column(c).value(row).to_owned()).collect()))
        .collect()
}

#[test]
fn paths_attributes_namespaces_and_the_first_of_a_repeated_element() {
    let fields = [
        "coded_data_section__ref_ojs__date_pub",
        "coded_data_section__notice_data__no_doc_ojs",
        "doc_id",
        "coded_data_section__notice_data__original_cpv__code",
        "coded_data_section__notice_data__performance_nuts__code",
        "form_section__f03_2014__lg",
        "form_section__f03_2014__object_contract__title",
    ];
    let batches = read_all(options(&fields, &[]), XmlContainer::Document, NOTICE.as_bytes()).unwrap();
    assert_eq!(rows(&batches), [["20240102", "2024/S 001-000001", "000001-2024", "45000000", "FR101", "EN", "Road works in Paris"]]);
    assert_eq!(batches[0].lines, [2]);
}

#[test]
fn join_gathers_every_occurrence_and_entities_are_resolved() {
    let fields = ["coded_data_section__notice_data__original_cpv", "coded_data_section__notice_data__original_cpv__code"];
    let mut options = options(&fields, &[(fields[0], RepeatRule::Join)]);
    options.repeated.push(RepeatedPath { path: fields[1].into(), rule: RepeatRule::Join, separator: Some(",".into()) });
    let batches = read_all(options, XmlContainer::Document, NOTICE.as_bytes()).unwrap();
    assert_eq!(rows(&batches), [["Construction work; Architectural & engineering services", "45000000,71000000"]]);
}

#[test]
fn explode_makes_a_row_per_occurrence_beside_the_record_values() {
    let fields = [
        "coded_data_section__notice_data__no_doc_ojs",
        "form_section__f03_2014__award_contract__item",
        "form_section__f03_2014__award_contract__awarded_contract__val_total",
        "form_section__f03_2014__award_contract__awarded_contract__val_total__currency",
    ];
    let options = options(&fields, &[("form_section__f03_2014__award_contract", RepeatRule::Explode)]);
    let batches = read_all(options, XmlContainer::Document, NOTICE.as_bytes()).unwrap();
    assert_eq!(rows(&batches), [["2024/S 001-000001", "1", "1000.50", "EUR"], ["2024/S 001-000001", "2", "250", "EUR"]]);

    // A record without the exploded element still makes its row.
    let bare =
        br#"<TED_EXPORT><CODED_DATA_SECTION><NOTICE_DATA><NO_DOC_OJS>x</NO_DOC_OJS></NOTICE_DATA></CODED_DATA_SECTION></TED_EXPORT>"#;
    let options = self::options(&fields, &[("form_section__f03_2014__award_contract", RepeatRule::Explode)]);
    assert_eq!(rows(&read_all(options, XmlContainer::Document, bare).unwrap()), [["x", "", "", ""]]);
}

#[test]
fn record_element_streams_the_records_of_one_file() {
    let text = "<export>\n".to_owned()
        + "<notice id=\"1\"><date>2024-01-02</date></notice>\n<notice id=\"2\"><date>2024-01-03</date><id>ignored</id></notice>\n<notice id=\"3\"/>\n</export>\n";
    let mut options = options(&["id", "date"], &[]);
    options.record_element = Some("notice".into());
    let batches = read_all(options, XmlContainer::Document, text.as_bytes()).unwrap();
    assert_eq!(rows(&batches), [["1", "2024-01-02"], ["2", "2024-01-03"], ["3", ""]]);
    assert_eq!(batches[0].lines, [2, 3, 4]);
}

#[test]
fn a_single_file_of_records_cut_short_fails_naming_the_line() {
    let text = "<export>\n<notice><date>2024-01-02</date></notice>\n<notice><date>2024-";
    let mut options = options(&["date"], &[]);
    options.record_element = Some("notice".into());
    let error = read_all(options, XmlContainer::Document, text.as_bytes()).unwrap_err();
    let ConvertError::Read { line, message } = &error else { panic!("{error}") };
    assert_eq!(*line, Some(3), "{message}");
    assert!(message.contains("cut short") && message.contains("not loaded"), "{message}");
}

fn package(members: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, text) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, text.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn a_package_gives_a_row_per_notice_and_a_broken_notice_is_rejected_alone() {
    let notice = |n: u32| {
        format!(
            "<TED_EXPORT DOC_ID=\"{n}\">\n<CODED_DATA_SECTION><REF_OJS><DATE_PUB>2024010{n}</DATE_PUB></REF_OJS></CODED_DATA_SECTION>\n</TED_EXPORT>\n"
        )
    };
    let unclosed = "<TED_EXPORT DOC_ID=\"3\">\n<CODED_DATA_SECTION><REF_OJS><DATE_PUB>20240103</DATE_PUB></REF_OJS>\n</TED_EXPORT>\n";
    let cut = "<TED_EXPORT DOC_ID=\"4\">\n<CODED_DATA_SECTION><REF_OJ";
    let bytes = package(&[
        ("20240102_001/1.xml", &notice(1)),
        ("20240102_001/readme.txt", "not a notice"),
        ("20240102_001/2.xml", &notice(2)),
        ("20240102_001/3.xml", unclosed),
        ("20240102_001/4.xml", cut),
        ("20240102_001/5.xml", &notice(5)),
    ]);
    let batches =
        read_all(options(&["doc_id", "coded_data_section__ref_ojs__date_pub"], &[]), XmlContainer::Tar { gzipped: true }, &bytes).unwrap();
    assert_eq!(rows(&batches), [["1", "20240101"], ["2", "20240102"], ["5", "20240105"]]);
    let rejected: Vec<(&str, &str)> = batches[0].rejected.iter().map(|r| (r.record.as_str(), r.check)).collect();
    assert_eq!(rejected, [("20240102_001/3.xml", "syntax"), ("20240102_001/4.xml", "syntax")]);
    let reason = &batches[0].rejected[0].reason;
    assert!(reason.contains("member 20240102_001/3.xml") && reason.contains("byte") && reason.contains("CODED_DATA_SECTION"), "{reason}");
    let reason = &batches[0].rejected[1].reason;
    assert!(reason.contains("member 20240102_001/4.xml") && reason.contains("not closed"), "{reason}");
    // Lines count on across members, so rows and rejects keep package order.
    let mut lines: Vec<u64> = batches[0].lines.clone();
    lines.extend(batches[0].rejected.iter().map(|r| r.line));
    lines.sort();
    assert_eq!(lines.len(), 5);
    assert!(batches[0].lines[0] < batches[0].rejected[0].line && batches[0].rejected[1].line < batches[0].lines[2], "{lines:?}");
}

#[test]
fn a_package_that_is_not_gzip_or_not_tar_is_a_clear_error() {
    let error = read_all(options(&["a"], &[]), XmlContainer::Tar { gzipped: true }, b"<a>plain</a>").unwrap_err();
    assert!(matches!(error, ConvertError::Read { .. }), "{error}");
    let gzipped_text = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&[b'<'; 2048]).unwrap();
        encoder.finish().unwrap()
    };
    let error = read_all(options(&["a"], &[]), XmlContainer::Tar { gzipped: true }, &gzipped_text).unwrap_err();
    assert!(error.to_string().contains("not a tar archive"), "{error}");
}

#[test]
fn the_container_follows_the_suffix() {
    assert_eq!(XmlContainer::of("s3://in/in/ted/20240102_001.tar.gz"), XmlContainer::Tar { gzipped: true });
    assert_eq!(XmlContainer::of("s3://in/in/ted/20240102_001.TGZ"), XmlContainer::Tar { gzipped: true });
    assert_eq!(XmlContainer::of("s3://in/in/ted/notices.tar"), XmlContainer::Tar { gzipped: false });
    assert_eq!(XmlContainer::of("s3://in/in/ted/notice.xml.gz"), XmlContainer::Gzip);
    assert_eq!(XmlContainer::of("s3://in/in/ted/notice.xml"), XmlContainer::Document);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    /// Whatever the bytes, a notice is read into rows or rejects, or the file
    /// fails with an error: it never panics, and a row keeps every column.
    #[test]
    fn damaged_notices_never_panic(cut in 0..NOTICE.len(), flips in proptest::collection::vec((0..NOTICE.len(), proptest::prelude::any::<u8>()), 0..4)) {
        let mut bytes = NOTICE.as_bytes()[..cut].to_vec();
        for (at, byte) in flips {
            if at < bytes.len() {
                bytes[at] = byte;
            }
        }
        let fields = ["doc_id", "coded_data_section__notice_data__original_cpv__code", "form_section__f03_2014__award_contract__item"];
        let options = options(&fields, &[("form_section__f03_2014__award_contract", RepeatRule::Explode)]);
        if let Ok(batches) = read_all(options.clone(), XmlContainer::Document, &bytes) {
            for batch in &batches {
                proptest::prop_assert_eq!(batch.num_columns(), fields.len());
                (0..batch.num_columns()).for_each(|c| batch.column(c).iter().for_each(drop));
            }
        }
        let mut record_options = options;
        record_options.record_element = Some("AWARD_CONTRACT".into());
        let _ = read_all(record_options, XmlContainer::Document, &bytes);
        let _ = read_all(self::options(&fields, &[]), XmlContainer::Tar { gzipped: true }, &package(&[("a.xml", &String::from_utf8_lossy(&bytes))]));
    }
}
