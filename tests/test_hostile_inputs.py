"""Inputs built to hurt: zip bombs, zip-slip, garbage. Refused, bounded, nothing lost."""
import gzip
import json
import zipfile



def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_a_zip_bomb_is_refused_with_little_memory_and_no_disk(inlet, tmp_path):
    bomb = tmp_path / "drop" / "bomb.zip"
    bomb.parent.mkdir()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("asx_eod_bomb.csv", "w", force_zip64=True) as member:
            chunk = b"0" * (1 << 20)
            for _ in range(2048):  # 2 GiB of zeros, about 2 MiB compressed
                member.write(chunk)
    assert bomb.stat().st_size < 8 << 20
    result, peak_mib = inlet.run_measured("ingest", bomb, check=False)
    assert result.returncode == 1
    assert "decompression bomb" in result.stdout
    assert peak_mib < 128, f"peak memory {peak_mib:.0f} MiB"
    assert inlet.keys("input") == ["failed/bomb.zip", "failed/bomb.zip.error.json"]
    assert not inlet.keys("output")
    scratch = inlet.state_dir / "scratch"
    assert sum(p.stat().st_size for p in scratch.rglob("*") if p.is_file()) == 0


def test_a_gz_bomb_is_stopped_while_streaming(inlet, tmp_path):
    bomb = tmp_path / "asx_eod_big.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as out:
        chunk = b"0" * (1 << 20)
        for _ in range(512):
            out.write(chunk)
    result, peak_mib = inlet.run_measured("ingest", bomb, check=False)
    assert result.returncode == 1
    assert peak_mib < 128, f"peak memory {peak_mib:.0f} MiB"
    document = json.loads((inlet.buckets / "input" / "failed" / "asx_eod_big.csv.gz.error.json").read_text())
    assert document["stage"] == "archive"
    assert "expansion ratio" in document["error"]


def test_zip_slip_writes_nothing_outside_the_state_dir(inlet, tmp_path):
    evil = tmp_path / "drop" / "evil.zip"
    evil.parent.mkdir()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("asx_eod_ok.csv", "AAA,20201201,1,2,0.5,1.5,100\n")
        archive.writestr("../../../escaped.csv", "pwned")
        archive.writestr("/tmp/absolute.csv", "pwned")
    before = files_under(tmp_path)
    result = inlet.run("ingest", evil, check=False)
    assert result.returncode == 1
    assert "escapes the archive's folder" in result.stdout
    after = [p for p in files_under(tmp_path) if not p.startswith("state")]
    assert after == [p for p in before if not p.startswith("state")]
    assert not (tmp_path.parent / "escaped.csv").exists()
    assert inlet.keys("input") == ["failed/evil.zip", "failed/evil.zip.error.json"]
    assert not inlet.keys("output"), "a refused archive loads none of its members"


def test_garbage_and_mixed_inputs_all_end_in_done_or_failed(inlet, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "asx_eod_good.csv").write_text("AAA,20201201,1,2,0.5,1.5,100\n")
    (drop / "asx_eod_partly_bad.csv").write_text("AAA,20201201,1,2,0.5,1.5,100\nBBB,2020120X,1,2,0.5,1.5,100\n\"unterminated,20201201\n")
    (drop / "corrupt.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    (drop / "corrupt.tar.gz").write_bytes(b"\x1f\x8b\x08 not gzip either")
    (drop / "binary.csv").write_bytes(bytes(range(256)) * 10)
    (drop / "asx_eod_empty.csv").write_text("")
    result = inlet.run("ingest", drop, check=False)
    assert result.returncode == 1
    inputs = inlet.keys("input")
    names = {"asx_eod_good.csv", "asx_eod_partly_bad.csv", "corrupt.zip", "corrupt.tar.gz", "binary.csv", "asx_eod_empty.csv"}
    for name in names:
        assert (f"done/{name}" in inputs) != (f"failed/{name}" in inputs), f"{name}: {inputs}"
    for key in inputs:
        if key.startswith("failed/") and not key.endswith(".error.json"):
            assert f"{key}.error.json" in inputs
    assert "done/asx_eod_partly_bad.csv" in inputs
    assert inlet.query("SELECT count(*) AS n FROM asx_eod")[0]["n"] == 2, "one good row from each CSV"
    rejects = inlet.query("SELECT check_name, line FROM asx_eod_rejects ORDER BY line")
    assert [r["check_name"] for r in rejects] == ["type", "shape"]
