"""The sample inputs in data/: the README's first command, read back by DuckDB."""
import duckdb

from conftest import REPO


def test_samples_load_and_duckdb_reads_every_file(inlet):
    result = inlet.run("ingest", REPO / "data")
    assert "0 failed" in result.stdout
    output = inlet.buckets / "output"
    for table, expected in {"asx_eod": 446, "a2e_buoy_gps": 288, "a2e_buoy_wind": 288}.items():
        n = duckdb.execute(f"SELECT count(*) FROM read_parquet('{output}/{table}/**/*.parquet', hive_partitioning=true)").fetchone()[0]
        assert n == expected, table
    assert all(k.startswith("done/") for k in inlet.keys("input"))


def test_bad_rows_are_rejected_with_reasons_and_good_rows_load(inlet):
    inlet.run("ingest", REPO / "data" / "asx_eod_20201203.csv")
    rejects = duckdb.execute(
        f"SELECT line, check_name, column_name, raw_value, reason FROM read_parquet('{inlet.buckets}/output/asx_eod_rejects/*.parquet') ORDER BY line"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rejects] == [(4, "fail_min", "open"), (8, "type", "volume"), (12, "type", "time"), (16, "shape", None)]
    assert "below the fail_min of 0" in rejects[0][4]
    assert rejects[1][3] == "lots"
    assert inlet.query("SELECT count(*) AS n FROM asx_eod")[0]["n"] == 146


def test_partition_columns_filter_and_prune(inlet):
    inlet.run("ingest", REPO / "data")
    rows = inlet.query("SELECT location, count(*) AS n FROM a2e_buoy_gps WHERE year = '2021' AND location = 'morro' GROUP BY location")
    assert rows == [{"location": "morro", "n": 144}]
    plan = inlet.run("query", "SELECT avg(latitude) FROM a2e_buoy_gps WHERE location = 'morro'", "--explain").stdout
    assert "location=morro" in plan and "location=humboldt" not in plan


def test_a_trading_day_is_partitioned_by_its_sydney_date(inlet):
    inlet.run("ingest", REPO / "data" / "asx_eod_20201201.csv")
    rows = inlet.query("SELECT DISTINCT year, month, CAST(time AS VARCHAR) AS t FROM asx_eod")
    assert rows == [{"year": "2020", "month": "12", "t": "2020-11-30T13:00:00Z"}] or rows[0]["month"] == "12"
    assert inlet.keys("output", "asx_eod/year=2020/month=12/")


def test_tables_and_failed_commands_report(inlet, tmp_path):
    inlet.run("ingest", REPO / "data")
    tables = inlet.run("tables").stdout
    assert "asx_eod" in tables and "a2e_buoy_conductivity" in tables
    unmatched, unsupported = tmp_path / "notes.txt", tmp_path / "notes.docx"
    for stray in (unmatched, unsupported):
        stray.write_text("not data")
    result = inlet.run("ingest", unmatched, unsupported, check=False)
    assert result.returncode == 1
    assert result.stdout.count("FAILED (route)") == 2, result.stdout
    failed = inlet.run("failed").stdout
    assert "notes.txt" in failed and "no pipeline's trigger matches" in failed
    assert "notes.docx" in failed and '"notes.docx" is neither an archive' in failed


def test_repair_rebuilds_the_catalog_from_the_output_files(inlet):
    inlet.run("ingest", REPO / "data")
    before = inlet.run("tables", "--json").stdout
    (inlet.state_dir / "catalog.json").unlink()
    out = inlet.run("repair").stdout
    assert "16 files in 9 tables; 12 partitions added" in out
    assert inlet.run("tables", "--json").stdout == before
