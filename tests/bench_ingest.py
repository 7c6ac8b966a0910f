#!/usr/bin/env python3
"""Benchmark: CSV → Hive-partitioned Snappy Parquet, inlet against two peers.

The workload is the asx_eod pipeline: header-less end-of-day rows, the date
read in Australia/Sydney and stored as UTC, partitioned by year and month. Each
tool runs in its own process, so peak memory is that tool's alone.

Peers, doing the same conversion:
  pyarrow   the awswrangler approach: read the whole CSV into an Arrow table,
            add year/month, write_dataset with Hive partitioning
  duckdb    COPY (SELECT ...) TO ... (FORMAT parquet, PARTITION_BY (year, month))
  polars    scan_csv(...).sink_parquet(pl.PartitionBy(...)): streaming
            (run when polars is installed: pip install polars)

inlet does more than either (type and quality checks, a rejects table, a
catalog, exactly-once names); the figures show what that costs.

Usage: .venv/bin/python tests/bench_ingest.py [--mib 256] [--runs 3] [--inlet target/release/inlet]
Build first with: cargo build --release -p inlet-cli
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eod_data import write_eod  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PEAK = Path(__file__).resolve().parent / "peak_rss.py"

PYARROW_PEER = r"""
import sys, pyarrow as pa, pyarrow.csv as csv, pyarrow.compute as pc, pyarrow.dataset as ds
src, out = sys.argv[1], sys.argv[2]
names = ["ticker", "date", "open", "high", "low", "close", "volume"]
types = {"ticker": pa.string(), "date": pa.string(), "open": pa.float64(), "high": pa.float64(),
         "low": pa.float64(), "close": pa.float64(), "volume": pa.int64()}
t = csv.read_csv(src, read_options=csv.ReadOptions(column_names=names), convert_options=csv.ConvertOptions(column_types=types))
local = pc.strptime(t["date"], format="%Y%m%d", unit="ms")
utc = pc.assume_timezone(local, timezone="Australia/Sydney")
t = t.drop(["date"]).append_column("time", utc.cast(pa.timestamp("ms", tz="UTC")))
t = t.append_column("year", pc.utf8_slice_codeunits(pc.cast(pc.year(local), pa.string()), 0, 4))
t = t.append_column("month", pc.utf8_lpad(pc.cast(pc.month(local), pa.string()), 2, "0"))
ds.write_dataset(t, out, format="parquet", partitioning=["year", "month"], partitioning_flavor="hive",
                 file_options=ds.ParquetFileFormat().make_write_options(compression="snappy"),
                 existing_data_behavior="overwrite_or_ignore")
"""

DUCKDB_PEER = r"""
import sys, duckdb
src, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f'''
COPY (
  SELECT ticker, open, high, low, close, volume,
         timezone('Australia/Sydney', strptime(date, '%Y%m%d')) AS time,
         substr(date, 1, 4) AS year, substr(date, 5, 2) AS month
  FROM read_csv('{src}', header = false, columns = {{
    'ticker': 'VARCHAR', 'date': 'VARCHAR', 'open': 'DOUBLE', 'high': 'DOUBLE',
    'low': 'DOUBLE', 'close': 'DOUBLE', 'volume': 'BIGINT'}})
) TO '{out}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (year, month))
''')
"""


POLARS_PEER = r"""
import sys, polars as pl
src, out = sys.argv[1], sys.argv[2]
schema = {"ticker": pl.String, "date": pl.String, "open": pl.Float64, "high": pl.Float64,
          "low": pl.Float64, "close": pl.Float64, "volume": pl.Int64}
local = pl.col("date").str.strptime(pl.Datetime("ms"), "%Y%m%d")
(pl.scan_csv(src, has_header=False, schema=schema)
   .with_columns(time=local.dt.replace_time_zone("Australia/Sydney").dt.convert_time_zone("UTC"),
                 year=pl.col("date").str.slice(0, 4), month=pl.col("date").str.slice(4, 2))
   .drop("date")
   .sink_parquet(pl.PartitionBy(out, key=["year", "month"], include_key=False), compression="snappy", mkdir=True))
"""


def polars_installed():
    return subprocess.run([sys.executable, "-c", "import polars"], capture_output=True).returncode == 0


def measured(command, env=None):
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(PEAK), *command], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{result.stdout}\n{result.stderr}")
    peak_kib = int(result.stderr.strip().splitlines()[-1].split("=")[1])
    return seconds, peak_kib / 1024, result.stdout


def count_rows(folder):
    import duckdb

    return duckdb.execute(f"SELECT count(*) FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true)").fetchone()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="input size in MiB")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool; the median is reported")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    parser.add_argument("--inlet", type=Path, default=target / "release" / "inlet")
    args = parser.parse_args()
    if not args.inlet.is_file():
        raise SystemExit(f"{args.inlet} is missing: cargo build --release -p inlet-cli")

    work = Path(tempfile.mkdtemp(prefix="inlet-bench-"))
    try:
        source = work / "asx_eod_bench.csv"
        rows = write_eod(source, args.mib << 20, seed=42)
        size_mib = source.stat().st_size / (1 << 20)
        print(f"input: {size_mib:.0f} MiB, {rows:,} rows, 3 monthly partitions; {args.runs} runs each, median shown")

        tools = {
            "inlet": lambda out: [str(args.inlet), "--state-dir", str(out), "ingest", str(source)],
            "pyarrow": lambda out: ["-c", PYARROW_PEER, str(source), str(out)],
            "duckdb": lambda out: ["-c", DUCKDB_PEER, str(source), str(out)],
        }
        if polars_installed():
            tools["polars"] = lambda out: ["-c", POLARS_PEER, str(source), str(out)]
        results = {}
        for name, command in tools.items():
            timings, peaks = [], []
            for run in range(args.runs):
                out = work / f"{name}-{run}"
                argv = command(out)
                if argv[0] == "-c":
                    argv = [sys.executable, *argv]
                seconds, peak, _ = measured(argv)
                folder = out / "buckets" / "output" / "asx_eod" if name == "inlet" else out
                written = count_rows(folder)
                if written != rows:
                    raise SystemExit(f"{name} wrote {written} rows, expected {rows}")
                timings.append(seconds)
                peaks.append(peak)
                shutil.rmtree(out, ignore_errors=True)
            results[name] = (statistics.median(timings), max(peaks))

        print(f"{'tool':<8} {'seconds':>8} {'MiB/s':>8} {'rows/s':>12} {'peak MiB':>9}")
        for name, (seconds, peak) in results.items():
            print(f"{name:<8} {seconds:>8.2f} {size_mib / seconds:>8.1f} {rows / seconds:>12,.0f} {peak:>9.0f}")
        base_s, base_m = results["inlet"]
        for peer in [name for name in results if name != "inlet"]:
            s, m = results[peer]
            print(f"inlet vs {peer}: {base_s / s:.2f}x its wall time, {m / base_m:.2f}x less peak memory")
        print(json.dumps({k: {"seconds": v[0], "peak_mib": v[1]} for k, v in results.items()}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
