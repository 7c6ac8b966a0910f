"""JSON-lines exports (the CYI daily exports) through the cyi_exports
pipeline, read back by DuckDB."""
import gzip
import json

import duckdb

from conftest import REPO

EXPORT = "\n".join(
    [
        '{"timestamp":"2024-01-15T00:00:00Z","station":{"id":"NIC01","name":"Nicosia"},"pm25":12.5,"pm10":20,"no2":7.25,"firmware":"2.3"}',
        '{"timestamp":"2024-01-15T01:00:00Z","station":{"id":"NIC01"},"pm25":null,"pm10":21,"no2":8}',
        '{"timestamp":"2024-01-15T02:00:00Z","station":{"id":"NIC01"},"pm25":13',
        '{"timestamp":"2024-01-15T03:00:00Z","station":{"id":"NIC01"},"pm25":"high","pm10":22,"no2":9}',
        '{"timestamp":"2024-01-15T04:00:00+02:00","station":{"id":"LIM02","name":"Limassol","site":{"alt":8}},"pm25":14,"pm10":23,"no2":10}',
    ]
)


def drop(tmp_path, relative, data):
    """Writes `data` under tmp_path/cyi/..., as it would sit under in/."""
    path = tmp_path / "drop" / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return tmp_path / "drop"


def table_rows(inlet, sql):
    return duckdb.execute(sql.replace("{output}", str(inlet.buckets / "output"))).fetchall()


def test_nested_fields_flatten_unknown_ones_are_kept_and_bad_lines_are_rejected_alone(inlet, tmp_path):
    folder = drop(tmp_path, "cyi/air_quality/2024-01-15/export.jsonl", EXPORT)
    inlet.run("ingest", folder)

    rows = table_rows(
        inlet,
        """SELECT epoch_ms(time), station__id, station__name, pm25, pm10, no2, qc_pm25, extra, CAST(export_date AS VARCHAR)
           FROM read_parquet('{output}/cyi_air_quality/**/*.parquet', hive_partitioning = true) ORDER BY time""",
    )
    assert rows == [
        (1705276800000, "NIC01", "Nicosia", 12.5, 20.0, 7.25, 0, '{"firmware":"2.3"}', "2024-01-15"),
        (1705280400000, "NIC01", None, None, 21.0, 8.0, 1, None, "2024-01-15"),
        # +02:00 is stored as UTC.
        (1705284000000, "LIM02", "Limassol", 14.0, 23.0, 10.0, 0, '{"station__site__alt":8}', "2024-01-15"),
    ]
    [data_file] = (inlet.buckets / "output" / "cyi_air_quality").rglob("*.parquet")
    assert data_file.parent.name == "export_date=2024-01-15"
    columns = [c[0] for c in duckdb.execute(f"DESCRIBE SELECT * FROM read_parquet('{data_file}', hive_partitioning = false)").fetchall()]
    assert "export_date" not in columns, "a partition column lives in the path alone"

    rejects = table_rows(inlet, "SELECT line, check_name, column_name, raw_value FROM read_parquet('{output}/cyi_air_quality_rejects/*.parquet') ORDER BY line")
    assert rejects == [(3, "syntax", None, None), (4, "type", "pm25", "high")]
    assert inlet.query("SELECT count(*) AS n FROM cyi_air_quality WHERE export_date = '2024-01-15'")[0]["n"] == 3


def test_a_gzipped_export_loads_and_a_json_gz_that_is_not_gzip_fails_clearly(inlet, tmp_path):
    good = drop(tmp_path, "cyi/air_quality/2024-01-16/export.json.gz", gzip.compress(EXPORT.encode(), mtime=0))
    inlet.run("ingest", good)
    assert inlet.query("SELECT count(*) AS n FROM cyi_air_quality WHERE export_date = '2024-01-16'")[0]["n"] == 3

    bad = tmp_path / "bad" / "cyi" / "air_quality" / "2024-01-17" / "export.json.gz"
    bad.parent.mkdir(parents=True)
    bad.write_text(EXPORT)
    result = inlet.run("ingest", tmp_path / "bad", check=False)
    assert result.returncode == 1, result.stdout
    report = inlet.run("failed").stdout
    assert "export.json.gz" in report and "gzip" in report.lower(), report


def test_the_sample_export_loads_every_line(inlet):
    export = REPO / "data" / "cyi" / "air_quality" / "2024-01-15" / "export.jsonl"
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    inlet.run("ingest", REPO / "data")
    counted = table_rows(
        inlet, "SELECT count(*), count(pm25), count(DISTINCT station__id) FROM read_parquet('{output}/cyi_air_quality/**/*.parquet')"
    )
    assert counted == [(len(lines), sum(1 for line in lines if line["pm25"] is not None), 2)]
