"""Memory stays bounded however many partitions a file touches: a file of
daily rows over three years (1,096 partitions) converts under 128 MiB, and
DuckDB reads back every row in its partition. Rows in random day order are
set aside by partition bucket, so each day gets a file or two, not hundreds."""
from pathlib import Path

import duckdb
from eod_data import daily_pipeline, write_eod_daily

REPO = Path(__file__).resolve().parent.parent


def test_a_file_over_a_thousand_daily_partitions_converts_in_bounded_memory(inlet, tmp_path):
    pipelines = daily_pipeline(REPO, tmp_path / "pipelines")
    source = tmp_path / "asx_daily_three_years.csv"
    # Three passes over the days, each in random order: every batch touches many partitions.
    rows = write_eod_daily(source, 3 * 1096 * 40 * 30, tickers=40)
    result, peak_mib = inlet.run_measured("--pipelines", pipelines, "ingest", source)
    assert f"{rows} rows written, 0 rejected" in result.stdout, result.stdout[-2000:]
    print(f"peak memory {peak_mib:.0f} MiB over 1,096 partitions, {rows} rows")
    assert peak_mib < 128, f"peak memory {peak_mib:.0f} MiB over 1,096 partitions"
    files = len(list((Path(inlet.buckets) / "output" / "asx_daily").rglob("*.parquet")))
    print(f"{files} Parquet files")
    assert files <= 2 * 1096, f"{files} files for 1,096 partitions"
    glob = f"{inlet.buckets}/output/asx_daily/**/*.parquet"
    per_day = duckdb.execute(
        f"SELECT year, month, day, count(*) FROM read_parquet('{glob}', hive_partitioning=true) GROUP BY ALL"
    ).fetchall()
    assert len(per_day) == 1096
    assert all(n == 120 for *_, n in per_day), "3 × 40 rows in every day's partition"
    mismatched = duckdb.execute(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true) "
        "WHERE strftime(time AT TIME ZONE 'Australia/Sydney', '%Y-%m-%d') <> year || '-' || month || '-' || day"
    ).fetchone()[0]
    assert mismatched == 0, "every row sits in its own day's partition"
