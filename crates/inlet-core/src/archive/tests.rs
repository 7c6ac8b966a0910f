use std::io::Write;

use super::*;

/// A zip of `entries`, each deflated.
pub(crate) fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

fn expand_bytes(
    kind: ArchiveKind,
    name: &str,
    bytes: &[u8],
    limits: ArchiveLimits,
) -> (Result<Expansion, ArchiveError>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    std::fs::write(&source, bytes).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    (expand(kind, name, &source, &work, limits), dir)
}

#[test]
fn kinds_are_detected_by_suffix() {
    assert_eq!(ArchiveKind::detect("a.zip"), Some((ArchiveKind::Zip, "a")));
    assert_eq!(ArchiveKind::detect("a.b.TAR.GZ"), Some((ArchiveKind::TarGz, "a.b")));
    assert_eq!(ArchiveKind::detect("x.tgz"), Some((ArchiveKind::TarGz, "x")));
    assert_eq!(ArchiveKind::detect("x.csv.gz"), Some((ArchiveKind::Gz, "x.csv")));
    assert_eq!(ArchiveKind::detect("x.csv"), None);
    assert_eq!(ArchiveKind::detect(".zip"), None);
}

#[test]
fn macos_debris_is_skipped_and_members_keep_their_paths() {
    let bytes = zip_bytes(&[("a.csv", b"1"), ("__MACOSX/._a.csv", b"junk"), ("sub/._b.csv", b"junk"), ("sub/b.csv", b"22")]);
    let (expansion, _dir) = expand_bytes(ArchiveKind::Zip, "x.zip", &bytes, ArchiveLimits::default());
    let expansion = expansion.unwrap();
    let paths: Vec<_> = expansion.members.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["a.csv", "sub/b.csv"]);
    assert_eq!(expansion.skipped, ["__MACOSX/._a.csv", "sub/._b.csv"]);
    assert_eq!(std::fs::read(&expansion.members[1].file).unwrap(), b"22");
}

#[test]
fn zip_slip_is_refused() {
    for evil in ["../evil.csv", "/etc/evil.csv", "a/../../evil.csv", "C:/evil.csv"] {
        let bytes = zip_bytes(&[("ok.csv", b"1"), (evil, b"x")]);
        let (result, dir) = expand_bytes(ArchiveKind::Zip, "x.zip", &bytes, ArchiveLimits::default());
        let err = result.unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{evil}: {err}");
        assert!(err.to_string().contains("escapes"), "{err}");
        assert!(!dir.path().parent().unwrap().join("evil.csv").exists());
    }
}

#[test]
fn tar_slip_and_links_are_refused() {
    let mut header = tar::Header::new_gnu();
    let mut builder = tar::Builder::new(Vec::new());
    header.set_size(1);
    header.set_entry_type(tar::EntryType::Regular);
    // `append_data` refuses '..', so write the raw name the way an attacker would.
    header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../escape.csv");
    header.set_cksum();
    builder.append(&header, &b"x"[..]).unwrap();
    let bytes = builder.into_inner().unwrap();
    let (result, _dir) = expand_bytes(ArchiveKind::Tar, "x.tar", &bytes, ArchiveLimits::default());
    assert!(matches!(result.unwrap_err(), ArchiveError::UnsafePath { .. }));

    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder.append_link(&mut header, "link.csv", "/etc/passwd").unwrap();
    let (result, _dir) = expand_bytes(ArchiveKind::Tar, "x.tar", &builder.into_inner().unwrap(), ArchiveLimits::default());
    assert!(matches!(result.unwrap_err(), ArchiveError::Link { .. }));
}

#[test]
fn a_zip_bomb_is_refused_before_it_fills_the_disk() {
    let zeros = vec![0u8; 64 << 20];
    let bytes = zip_bytes(&[("bomb.csv", &zeros)]);
    assert!(bytes.len() < 200_000, "the bomb compresses: {}", bytes.len());
    let (result, dir) = expand_bytes(ArchiveKind::Zip, "bomb.zip", &bytes, ArchiveLimits::default());
    let err = result.unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("decompression bomb"));
    let left: u64 = std::fs::read_dir(dir.path().join("work")).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    assert_eq!(left, 0, "nothing of the bomb stays on disk");
}

#[test]
fn a_gz_bomb_is_stopped_while_streaming() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b'0'; 1 << 20];
    for _ in 0..64 {
        encoder.write_all(&block).unwrap();
    }
    let bytes = encoder.finish().unwrap();
    let (result, _dir) = expand_bytes(ArchiveKind::Gz, "in/big.csv.gz", &bytes, ArchiveLimits::default());
    assert!(matches!(result.unwrap_err(), ArchiveError::TooLarge { .. }));
}

#[test]
fn the_total_size_limit_holds_across_members() {
    let member = vec![b'7'; 600 << 10];
    let bytes = zip_bytes(&[("a.csv", &member), ("b.csv", &member)]);
    let limits = ArchiveLimits { max_total_bytes: 1 << 20, max_ratio: 10_000, ..ArchiveLimits::default() };
    let (result, _dir) = expand_bytes(ArchiveKind::Zip, "x.zip", &bytes, limits);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("member \"b.csv\""), "{err}");
}

#[test]
fn one_level_of_nesting_is_expanded_two_are_refused() {
    let inner = zip_bytes(&[("deep.csv", b"1")]);
    let outer = zip_bytes(&[("inner.zip", &inner), ("top.csv", b"2")]);
    let (expansion, _dir) = expand_bytes(ArchiveKind::Zip, "outer.zip", &outer, ArchiveLimits::default());
    let paths: Vec<_> = expansion.unwrap().members.into_iter().map(|m| m.path).collect();
    assert_eq!(paths, ["inner/deep.csv", "top.csv"]);

    let outermost = zip_bytes(&[("outer.zip", &outer)]);
    let (result, _dir) = expand_bytes(ArchiveKind::Zip, "outermost.zip", &outermost, ArchiveLimits::default());
    let err = result.unwrap_err();
    assert!(matches!(err, ArchiveError::TooDeep { .. }), "{err}");
    assert!(err.to_string().contains("outer/inner.zip"), "{err}");
}

#[test]
fn tar_gz_members_stream_out() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    builder.append_data(&mut header, "dir/a.csv", &b"abc"[..]).unwrap();
    let tar_bytes = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes).unwrap();
    let (expansion, _dir) = expand_bytes(ArchiveKind::TarGz, "x.tar.gz", &gz.finish().unwrap(), ArchiveLimits::default());
    let expansion = expansion.unwrap();
    assert_eq!(expansion.members[0].path, "dir/a.csv");
    assert_eq!(std::fs::read(&expansion.members[0].file).unwrap(), b"abc");
}

#[test]
fn garbage_is_corrupt_not_a_panic() {
    let (result, _dir) = expand_bytes(ArchiveKind::Zip, "x.zip", b"PK\x03\x04 this is not a zip", ArchiveLimits::default());
    assert!(matches!(result.unwrap_err(), ArchiveError::Corrupt { .. }));
    let (result, _dir) = expand_bytes(ArchiveKind::TarGz, "x.tgz", b"\x1f\x8b garbage", ArchiveLimits::default());
    assert!(matches!(result.unwrap_err(), ArchiveError::Corrupt { .. }));
}

#[test]
fn every_archive_suffix_of_the_contract_is_expanded_in_any_case() {
    for suffix in inlet_contract::suffixes::ARCHIVE_SUFFIXES {
        for name in [format!("x{suffix}"), format!("X{}", suffix.to_uppercase())] {
            let (_, stem) = ArchiveKind::detect(&name).unwrap_or_else(|| panic!("{name} is routed to unzip but not expanded"));
            assert!(stem.eq_ignore_ascii_case("x"), "{name}: stem {stem}");
        }
    }
}
