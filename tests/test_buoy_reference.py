"""The real A2E buoy exports: counts, types and names, checked with DuckDB and pyarrow."""
import re
import zipfile

import duckdb
import pyarrow.parquet as pq
import pyarrow as pa

KINDS = ["conductivity", "currents", "gill", "gps", "pressure", "pyranometer", "rh", "surfacetemp", "temperature", "wind"]
ZIPS = {"humboldt": "humboldt/buoy.z05.00.20201201.000000.zip", "morro": "morro/buoy.z06.00.20201201.000000.zip"}


def raw_counts(ref_data, tmp_path):
    """Rows per (location, kind) as DuckDB reads the raw CSVs, macOS debris excluded."""
    counts = {}
    for location, relative in ZIPS.items():
        target = tmp_path / "raw" / location
        with zipfile.ZipFile(ref_data / "a2e_buoy_ingest" / relative) as archive:
            archive.extractall(target)
        for kind in KINDS:
            [csv] = [p for p in target.glob(f"*.{kind}.csv")]
            counts[(location, kind)] = duckdb.execute(f"SELECT count(*) FROM read_csv('{csv}', header=true)").fetchone()[0]
    return counts


def parquet_counts(inlet):
    counts = {}
    for kind in KINDS:
        glob = inlet.buckets / "output" / f"a2e_buoy_{kind}" / "**" / "*.parquet"
        rows = duckdb.execute(f"SELECT location, count(*) FROM read_parquet('{glob}', hive_partitioning=true) GROUP BY location").fetchall()
        for location, n in rows:
            counts[(location, kind)] = n
    return counts


def ingest_reference(inlet, ref_data):
    return inlet.run("ingest", ref_data / "a2e_buoy_ingest" / "humboldt", ref_data / "a2e_buoy_ingest" / "morro")


def test_every_kind_has_exactly_the_raw_row_count(inlet, ref_data, tmp_path):
    ingest_reference(inlet, ref_data)
    expected = raw_counts(ref_data, tmp_path)
    assert len(expected) == 20
    assert parquet_counts(inlet) == expected
    # inlet's own SQL agrees with DuckDB.
    for kind in KINDS:
        rows = inlet.query(f"SELECT location, count(*) AS n FROM a2e_buoy_{kind} GROUP BY location")
        assert {(r["location"], kind): r["n"] for r in rows} == {k: v for k, v in expected.items() if k[1] == kind}


def test_ingesting_again_changes_no_count_and_no_file(inlet, ref_data, tmp_path):
    ingest_reference(inlet, ref_data)
    files = inlet.keys("output")
    counts = parquet_counts(inlet)
    ingest_reference(inlet, ref_data)
    assert inlet.keys("output") == files
    assert parquet_counts(inlet) == counts == raw_counts(ref_data, tmp_path)


def test_time_is_utc_milliseconds_and_columns_are_snake_case(inlet, ref_data):
    ingest_reference(inlet, ref_data)
    parquet_files = [inlet.buckets / "output" / k for k in inlet.keys("output") if k.endswith(".parquet")]
    assert len(parquet_files) == 20
    for path in parquet_files:
        schema = pq.read_schema(path)
        assert schema.field("time").type == pa.timestamp("ms", tz="UTC"), path
        for name in schema.names:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"{name} in {path}"
        metadata = pq.ParquetFile(path).metadata
        assert metadata.row_group(0).column(0).compression == "SNAPPY"
        assert not path.name.startswith(("_", "."))
    first = duckdb.execute(
        f"SELECT min(time) FROM read_parquet('{inlet.buckets}/output/a2e_buoy_gps/**/*.parquet', hive_partitioning=true)"
    ).fetchone()[0]
    assert first.isoformat().startswith("2020-12-01T00:00:00")
    surface = pq.read_schema(next(p for p in parquet_files if "a2e_buoy_surfacetemp" in str(p)))
    assert "surface_temperature" in surface.names


def test_macos_debris_never_reaches_the_output(inlet, ref_data):
    result = ingest_reference(inlet, ref_data)
    assert "10 skipped (macOS debris)" in result.stdout
    assert not [k for k in inlet.keys("output") + inlet.keys("input") if "MACOSX" in k or "/._" in k]


def test_every_input_ends_in_done(inlet, ref_data):
    ingest_reference(inlet, ref_data)
    inputs = inlet.keys("input")
    assert inputs, "inputs were recorded"
    assert all(k.startswith("done/") for k in inputs), inputs
    assert len([k for k in inputs if k.endswith(".csv")]) == 20


def test_units_are_kept_in_the_catalog(inlet, ref_data):
    ingest_reference(inlet, ref_data)
    out = inlet.run("tables", "--json").stdout
    import json

    tables = {t["table"]: t for t in map(json.loads, out.splitlines())}
    assert set(tables) == {f"a2e_buoy_{k}" for k in KINDS}
    conductivity = {c["name"]: c for c in tables["a2e_buoy_conductivity"]["columns"]}
    assert conductivity["conductivity"]["parameters"]["units"] == "Siemens/m"
    assert conductivity["surface_temperature"]["parameters"]["units"] == "C"
    assert tables["a2e_buoy_currents"]["rows"] == 142 + 144
