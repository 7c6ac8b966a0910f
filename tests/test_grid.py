"""ESRI ASCII grids (the BOM radiation files) through the bom_radiation
pipeline, read back by DuckDB and pyarrow."""
import json

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import REPO

GRID = """ncols 3
NROWS  2
xllcorner 140.0
yllcorner -35.0
cellsize 0.05
NODATA_value -9999
100.5 -9999 300
400 x 600.25
"""


def parquet_files(inlet, table):
    return sorted((inlet.buckets / "output" / table).rglob("*.parquet"))


def test_a_grid_becomes_one_row_per_cell_at_the_cell_centres(inlet, tmp_path):
    source = tmp_path / "solar_ghi_20240115_03UT.txt"
    source.write_text(GRID)
    inlet.run("ingest", source)

    [data] = parquet_files(inlet, "bom_radiation")
    assert data.parent.relative_to(inlet.buckets / "output" / "bom_radiation").as_posix() == "year=2024/month=01/day=15/hour=03"
    rows = duckdb.execute(
        f"""SELECT CAST(time AS VARCHAR), CAST(local_time AS VARCHAR), radiation_type, longitude, latitude, value
            FROM read_parquet('{data}') ORDER BY latitude DESC, longitude"""
    ).fetchall()
    # The northern row first; the NODATA cell is skipped and "x" is rejected.
    expected = [
        (140.025, -34.925, 100.5),
        (140.125, -34.925, 300.0),
        (140.025, -34.975, 400.0),
        (140.125, -34.975, 600.25),
    ]
    assert len(rows) == len(expected)
    for row, (lon, lat, value) in zip(rows, expected):
        assert row[0].startswith("2024-01-15 03:00:00"), row
        # 03:00 UTC is 14:00 in Sydney in January (daylight saving, UTC+11).
        assert row[1] == "2024-01-15 14:00:00", row
        assert row[2] == "ghi"
        assert row[3] == pytest.approx(lon, abs=1e-9) and row[4] == pytest.approx(lat, abs=1e-9)
        assert row[5] == value

    rejects = duckdb.execute(
        f"SELECT line, check_name, column_name, raw_value FROM read_parquet('{inlet.buckets}/output/bom_radiation_rejects/*.parquet')"
    ).fetchall()
    assert rejects == [(8, "type", "value", "x")]


def test_the_last_cell_of_a_row_is_placed_and_local_time_has_no_time_zone(inlet, tmp_path):
    source = tmp_path / "solar_dni_20240701_23UT.txt"
    source.write_text(GRID.replace(" x ", " 500 "))
    inlet.run("ingest", source)

    [data] = parquet_files(inlet, "bom_radiation")
    assert "year=2024/month=07/day=01/hour=23" in data.as_posix()
    table = pq.read_table(data)
    assert str(table.schema.field("local_time").type) == "timestamp[ms]"
    assert str(table.schema.field("time").type) == "timestamp[ms, tz=UTC]"
    schema = pq.ParquetFile(data).schema
    local = schema.column(schema.names.index("local_time")).logical_type.to_json()
    assert json.loads(local)["isAdjustedToUTC"] is False
    rows = sorted(zip(table["longitude"].to_pylist(), table["latitude"].to_pylist(), table["value"].to_pylist()))
    # The last cell of the southern row.
    assert [(round(lon, 9), round(lat, 9), value) for lon, lat, value in rows if value == 600.25] == [(140.125, -34.975, 600.25)]
    assert len(rows) == 5
    # 23:00 UTC on 1 July is 09:00 on 2 July in Sydney (standard time, UTC+10).
    assert {str(t) for t in table["local_time"].to_pylist()} == {"2024-07-02 09:00:00"}
    assert set(table["radiation_type"].to_pylist()) == {"dni"}


@pytest.mark.parametrize(
    "name, text, line, words",
    [
        ("too_few", GRID.replace("400 x 600.25\n", "400 5\n"), 8, "ends after 5 of its 6 values"),
        ("too_many", GRID + "7\n", 9, "more values than"),
        ("no_ncols", GRID.replace("ncols 3\n", ""), 6, "without ncols"),
        ("bad_cellsize", GRID.replace("0.05", "fine"), 5, "cellsize has \"fine\""),
    ],
)
def test_a_broken_grid_goes_to_failed_whole_naming_the_line(inlet, tmp_path, name, text, line, words):
    source = tmp_path / f"solar_ghi_20240115_{len(name):02}UT.txt"
    source.write_text(text)
    result = inlet.run("ingest", source, check=False)
    assert result.returncode == 1, result.stdout
    assert not parquet_files(inlet, "bom_radiation"), "nothing of a broken grid is loaded"
    [failed] = [k for k in inlet.keys("input") if k.startswith("failed/") and k.endswith(".txt")]
    assert failed.endswith(source.name)
    report = inlet.run("failed").stdout
    assert f"line {line}" in report and words in report, report


def test_the_sample_grids_load_every_land_cell(inlet):
    inlet.run("ingest", REPO / "data" / "solar_ghi_20240115_03UT.txt", REPO / "data" / "solar_dni_20240115_03UT.txt")
    land_cells = 0
    for kind in ("ghi", "dni"):
        text = (REPO / "data" / f"solar_{kind}_20240115_03UT.txt").read_text().split("\n")[6:]
        land_cells += sum(1 for value in " ".join(text).split() if value != "-999")
    counted = duckdb.execute(
        f"SELECT count(*), count(DISTINCT radiation_type) FROM read_parquet('{inlet.buckets}/output/bom_radiation/**/*.parquet')"
    ).fetchone()
    assert counted == (land_cells, 2)
    assert inlet.query("SELECT count(*) AS n FROM bom_radiation WHERE hour = '03'")[0]["n"] == land_cells


def test_a_full_size_grid_converts_in_bounded_memory(inlet, tmp_path):
    """A real BOM hour file is 839 × 679 cells at 0.05°."""
    ncols, nrows = 839, 679
    source = tmp_path / "solar_ghi_20240115_04UT.txt"
    row = " ".join("-999" if col % 5 == 0 else f"{col % 1000}.5" for col in range(ncols))
    with open(source, "w") as out:
        out.write(f"ncols {ncols}\nnrows {nrows}\nxllcorner 112.0\nyllcorner -44.0\ncellsize 0.05\nNODATA_value -999\n")
        for _ in range(nrows):
            out.write(row + "\n")
    _, peak_mib = inlet.run_measured("ingest", source)
    expected = nrows * sum(1 for col in range(ncols) if col % 5)
    counted = duckdb.execute(f"SELECT count(*) FROM read_parquet('{inlet.buckets}/output/bom_radiation/**/*.parquet')").fetchone()[0]
    assert counted == expected
    assert peak_mib <= 128, f"peak RSS {peak_mib:.0f} MiB"
