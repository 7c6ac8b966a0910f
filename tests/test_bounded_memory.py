"""Peak memory stays under the smallest Lambda's 128 MiB whatever the input's size."""
import random

import duckdb


def write_large_eod(path, target_bytes):
    """Header-less end-of-day rows over three months, until the file passes target_bytes."""
    rng = random.Random(7)
    tickers = [f"T{i:04d}" for i in range(4000)]
    written = 0
    rows = 0
    with open(path, "w") as out:
        while written < target_bytes:
            for month in ("01", "02", "03"):
                day = f"2021{month}{rng.randint(1, 28):02d}"
                lines = []
                for ticker in tickers:
                    price = rng.uniform(1, 100)
                    lines.append(f"{ticker},{day},{price:.3f},{price * 1.02:.3f},{price * 0.98:.3f},{price:.3f},{rng.randint(1, 10**6)}\n")
                block = "".join(lines)
                out.write(block)
                written += len(block)
                rows += len(lines)
    return rows


def test_an_input_larger_than_a_lambda_streams_in_bounded_memory(inlet, tmp_path):
    source = tmp_path / "asx_eod_large.csv"
    rows = write_large_eod(source, 160 << 20)
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
