"""The commands a user inspects a deployment with, end to end on the local
backend: rejected rows with their check and line, partition values, SQL from
a file or standard input printed with correct widths for any text, failures
filtered, and redrive printing the same summary as ingest."""
import json
import os
import subprocess
import unicodedata

from conftest import REPO


def display_width(text):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_rejects_shows_each_rejected_row_with_its_check_and_source_line(inlet):
    inlet.run("ingest", REPO / "data" / "asx_eod_20201203.csv")
    out = inlet.run("rejects", "asx_eod").stdout
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("| ")]
    header, body = rows[0], rows[1:]
    assert header[:4] == ["source", "line", "check_name", "column_name"], header
    assert [(r[1], r[2], r[3]) for r in body] == [("4", "fail_min", "open"), ("8", "type", "volume"), ("12", "type", "time"), ("16", "shape", "")], out
    assert all(r[0] == "s3://input/in/asx_eod_20201203.csv" for r in body), out
    # A table without rejects says so rather than printing an empty grid.
    missing = inlet.run("rejects", "no_such_table", check=False)
    assert missing.returncode != 0 and "no_such_table" in missing.stderr, missing


def test_tables_partitions_lists_each_partitions_values(inlet):
    inlet.run("ingest", REPO / "data")
    out = inlet.run("tables", "--partitions").stdout
    lines = out.splitlines()
    wind = lines.index(next(l for l in lines if l.startswith("a2e_buoy_wind ")))
    assert lines[wind].split()[1:4] == ["2", "2", "288"], lines[wind]
    assert [l.strip() for l in lines[wind + 1 : wind + 3]] == ["location=humboldt/year=2021/month=01", "location=morro/year=2021/month=01"], out


def test_query_reads_sql_from_a_file_or_stdin_and_aligns_any_text(inlet, tmp_path):
    inlet.run("ingest", REPO / "data" / "asx_eod_20201201.csv")
    sql = tmp_path / "count.sql"
    sql.write_text("SELECT count(*) AS n FROM asx_eod\n")
    assert "| 150 |" in inlet.run("query", "-f", sql).stdout

    piped = subprocess.run(
        [str(inlet.binary), "query", "-"],
        input="SELECT 'Zürich—東京' AS city, 1 AS n UNION ALL SELECT 'x', 22 ORDER BY n",
        env={**os.environ, "INLET_STATE_DIR": str(inlet.state_dir)},
        cwd=inlet.cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    table = [line for line in piped.stdout.splitlines() if line]
    assert any("Zürich—東京" in line for line in table), piped.stdout
    # Every line of the grid is as wide on a terminal as the others.
    assert len({display_width(line) for line in table}) == 1, piped.stdout


def test_failed_filters_by_stage_pipeline_and_time_and_redrive_prints_the_summary(inlet, tmp_path):
    stray = tmp_path / "unknown_thing.csv"
    stray.write_text("a,b\n1,2\n")
    inlet.run("ingest", stray, check=False)
    assert "unknown_thing.csv" in inlet.run("failed", "--stage", "route").stdout
    for filters in (["--stage", "convert"], ["--pipeline", "asx_eod"], ["--since", "2099-01-01"]):
        assert "no failed inputs match" in inlet.run("failed", *filters).stdout, filters
    assert "unknown_thing.csv" in inlet.run("failed", "--since", "2020-01-01").stdout

    summary = inlet.run("redrive", "unknown_thing.csv", check=False).stdout
    assert "1 input: 0 loaded, 1 failed; 0 rows written, 0 rejected." in summary, summary
    documents = [json.loads(line) for line in inlet.run("redrive", "--json", "unknown_thing.csv", check=False).stdout.splitlines() if line.startswith("{")]
    assert [(d["outcome"], d["stage"]) for d in documents] == [("failed", "route")], documents


def test_every_log_line_about_an_input_carries_its_archives_correlation_id(inlet):
    result = inlet.run("--log-format", "json", "-v", "ingest", REPO / "data" / "buoy.z05.00.20210115.000000.zip", REPO / "data" / "asx_eod_20201201.csv")
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    about_inputs = [line for line in lines if "key" in line]
    ids = {line["key"]: line.get("span", {}).get("correlation_id") for line in about_inputs}
    assert len(ids) == 6 and None not in ids.values(), about_inputs
    archive_id = ids["in/buoy.z05.00.20210115.000000.zip"]
    assert {k for k, v in ids.items() if v == archive_id} == {k for k in ids if k.startswith("in/buoy.z05")}, ids
    assert ids["in/asx_eod_20201201.csv"] != archive_id
