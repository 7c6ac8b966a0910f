"""`inlet harvest --dry-run`: the shipped sources file is valid, placeholders
fill in with calendar arithmetic, and a broken file names every mistake."""
import json

from conftest import REPO


def test_the_shipped_sources_expand_for_a_january_run(inlet):
    out = inlet.run("harvest", "--dry-run", "--json", "--at", "2021-01-15T00:00:00Z").stdout
    downloads = {d["source"]: d for d in map(json.loads, out.splitlines())}
    assert set(downloads) == {"asx_eod", "bom_solar", "ted_packages"}
    # 00:00 UTC is 11:00 in Sydney: yesterday there was 14 January.
    assert downloads["asx_eod"]["url"] == "https://data.example.com/asx/eod/asx_eod_20210114.csv"
    # The month before January is December of the year before.
    assert downloads["ted_packages"]["url"] == "ftp://ftp.example.com/daily-packages/2020/12/"
    assert downloads["ted_packages"]["target"] == "ted/" and downloads["ted_packages"]["kind"] == "ftp_files"
    again = inlet.run("harvest", "--dry-run", "--json", "--at", "2021-01-15T00:00:00Z").stdout
    assert again == out, "a retried run plans the same downloads, with the same deduplication ids"


def test_one_schedule_and_a_schedule_no_source_has(inlet):
    out = inlet.run("harvest", "--dry-run", "--schedule", "rate(1 hour)", "--at", "2024-02-29T23:30:00Z").stdout
    assert out.split() == ["bom_solar", "https://data.example.com/bom/solar/2024/02/", "→", "in/bom/"]
    result = inlet.run("harvest", "--dry-run", "--schedule", "rate(2 hours)", check=False)
    assert result.returncode == 2 and "rate(1 hour)" in result.stderr, result.stderr


def test_a_broken_sources_file_names_the_file_the_source_and_the_field(inlet, tmp_path):
    text = (REPO / "config" / "sources.yaml").read_text()
    broken = tmp_path / "sources.yaml"
    broken.write_text(text.replace("asx_eod_{yesterday}", "asx_eod_{yesterdy}").replace("schedule: rate(1 hour)", "schedule: hourly"))
    result = inlet.run("harvest", "--dry-run", "--sources", broken, check=False)
    assert result.returncode == 2
    assert f"{broken}: sources[0] (asx_eod): `url`: {{yesterdy}} is not a placeholder" in result.stderr, result.stderr
    assert f"{broken}: sources[1] (bom_solar): `schedule`:" in result.stderr, result.stderr


def test_without_dry_run_it_points_to_download(inlet):
    result = inlet.run("harvest", check=False)
    assert result.returncode == 2 and "inlet download" in result.stderr, result.stderr
