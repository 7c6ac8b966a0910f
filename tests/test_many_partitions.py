"""Memory stays bounded however many partitions a file touches: a file of
daily rows over three years (1,096 partitions) converts under 128 MiB, and
DuckDB reads back every row in its partition."""
import datetime
import random
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent


def daily_pipeline(folder):
    text = (REPO / "pipelines" / "asx_eod" / "pipeline.yaml").read_text()
    text = text.replace("name: asx_eod", "name: asx_daily").replace("table: asx_eod", "table: asx_daily")
    text = text.replace("partition_by: [year, month]", "partition_by: [year, month, day]")
    text = text.replace("'(^|/)asx_eod_[^/]*\\.(csv|txt)$'", "'(^|/)asx_daily_[^/]*\\.csv$'").replace("  - '(^|/)\\d{8}\\.txt$'\n", "")
    assert "partition_by: [year, month, day]" in text and "asx_daily_" in text
    (folder / "asx_daily").mkdir(parents=True)
    (folder / "asx_daily" / "pipeline.yaml").write_text(text)
    return folder


def test_a_file_over_a_thousand_daily_partitions_converts_in_bounded_memory(inlet, tmp_path):
    pipelines = daily_pipeline(tmp_path / "pipelines")
    source = tmp_path / "asx_daily_three_years.csv"
    start = datetime.date(2019, 1, 1)
    days = [start + datetime.timedelta(days=i) for i in range(1096)]
    rng = random.Random(11)
    rows = 0
    with open(source, "w") as out:
        # Days in random order, so every batch touches many partitions.
        for _ in range(3):
            for day in rng.sample(days, len(days)):
                for ticker in range(40):
                    out.write(f"T{ticker:03d},{day:%Y%m%d},1.5,2.5,0.5,1.0,{rng.randint(1, 10**6)}\n")
                    rows += 1
    result, peak_mib = inlet.run_measured("--pipelines", pipelines, "ingest", source)
    assert f"{rows} rows written, 0 rejected" in result.stdout, result.stdout[-2000:]
    print(f"peak memory {peak_mib:.0f} MiB over 1,096 partitions, {rows} rows")
    assert peak_mib < 128, f"peak memory {peak_mib:.0f} MiB over 1,096 partitions"
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
