"""Peak memory stays under the smallest Lambda's 128 MiB whatever the input's size."""
import duckdb

from eod_data import write_eod


def test_an_input_larger_than_a_lambda_streams_in_bounded_memory(inlet, tmp_path):
    source = tmp_path / "asx_eod_large.csv"
    rows = write_eod(source, 160 << 20)
    assert source.stat().st_size > 160 << 20
    result, peak_mib = inlet.run_measured("ingest", source)
    assert f"{rows} rows written, 0 rejected" in result.stdout
    assert peak_mib < 128, f"peak memory {peak_mib:.0f} MiB for a {source.stat().st_size >> 20} MiB input"
    n = duckdb.execute(f"SELECT count(*) FROM read_parquet('{inlet.buckets}/output/asx_eod/**/*.parquet', hive_partitioning=true)").fetchone()[0]
    assert n == rows
    months = duckdb.execute(
        f"SELECT DISTINCT month FROM read_parquet('{inlet.buckets}/output/asx_eod/**/*.parquet', hive_partitioning=true) ORDER BY 1"
    ).fetchall()
    assert [m[0] for m in months] == ["01", "02", "03"]


def test_a_zip_holding_a_large_csv_streams_in_bounded_memory(inlet, tmp_path):
    import zipfile

    source = tmp_path / "asx_eod_zipped.csv"
    rows = write_eod(source, 96 << 20)
    archive = tmp_path / "asx_eod_zipped.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.write(source, source.name)
    source.unlink()
    result, peak_mib = inlet.run_measured("ingest", archive)
    assert f"{rows} rows written, 0 rejected" in result.stdout, result.stdout[-2000:]
    assert peak_mib < 128, f"peak memory {peak_mib:.0f} MiB for a zip holding 96 MiB"
    n = duckdb.execute(f"SELECT count(*) FROM read_parquet('{inlet.buckets}/output/asx_eod/**/*.parquet', hive_partitioning=true)").fetchone()[0]
    assert n == rows
