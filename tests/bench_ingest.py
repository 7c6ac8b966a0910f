#!/usr/bin/env python3
"""Benchmark: CSV → Hive-partitioned Snappy Parquet, inlet against its peers.

The workload is the asx_eod pipeline: header-less end-of-day rows, the date
read in Australia/Sydney and stored as UTC, partitioned by year and month.
Each tool runs in its own process, so peak memory is that tool's alone, and
after a sync, so no run pays for the writeback of the files the one before wrote.
With --runs N the tools run in N rounds of one run each, and each run's time
is printed beside the medians.

Scenarios, all at --mib (1 GiB unless told):
  csv       one CSV over three months (three partitions); inlet is also
            timed reprocessing it from the local bucket, where `ingest` first
            copies the file in (the peers read theirs in place)
  zip       the same CSV inside a zip (inlet only: the peers do not read zip)
  daily     a CSV of daily rows over three years in random day order,
            partitioned by year, month and day (1,096 partitions)
  grid      one ESRI ASCII grid, 839 columns wide like the BOM's, through the
            bom_radiation pipeline (inlet only: no peer reads the format)
  jsonl     a CYI JSON-lines export through the cyi_exports pipeline, beside
            DuckDB's read_json writing the same columns
  xml       one file of tender records under record_element, a row per lot
            (explode), partitioned by year; beside Python's streaming
            ElementTree.iterparse feeding pyarrow (DuckDB and Polars read no XML)

Peers, doing the same conversion:
  pyarrow   the awswrangler approach: read the whole CSV into an Arrow table,
            add the partition columns, write_dataset with Hive partitioning
  duckdb    COPY (SELECT ...) TO ... (FORMAT parquet, PARTITION_BY (...))
  polars    scan_csv(...).sink_parquet(pl.PartitionBy(...)): streaming
            (run when polars is installed: pip install polars)

inlet does more than any of them (type and quality checks, a rejects table, a
catalog, exactly-once names); the figures show what that costs.

With --kills N, inlet is also killed (SIGKILL) at N random points of the csv
scenario; after each kill a re-run must leave exactly the input's rows.

Usage: .venv/bin/python tests/bench_ingest.py [--mib 1024] [--runs 1] [--scenarios csv,zip,daily,grid,jsonl,xml] [--kills 3]
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
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eod_data import daily_pipeline, write_eod, write_eod_daily  # noqa: E402
from xml_data import records_pipeline, write_records  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PEAK = Path(__file__).resolve().parent / "peak_rss.py"

PYARROW_PEER = r"""
import sys, pyarrow as pa, pyarrow.csv as csv, pyarrow.compute as pc, pyarrow.dataset as ds
src, out, keys = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
names = ["ticker", "date", "open", "high", "low", "close", "volume"]
types = {"ticker": pa.string(), "date": pa.string(), "open": pa.float64(), "high": pa.float64(),
         "low": pa.float64(), "close": pa.float64(), "volume": pa.int64()}
t = csv.read_csv(src, read_options=csv.ReadOptions(column_names=names), convert_options=csv.ConvertOptions(column_types=types))
local = pc.strptime(t["date"], format="%Y%m%d", unit="ms")
utc = pc.assume_timezone(local, timezone="Australia/Sydney")
t = t.drop(["date"]).append_column("time", utc.cast(pa.timestamp("ms", tz="UTC")))
t = t.append_column("year", pc.utf8_slice_codeunits(pc.cast(pc.year(local), pa.string()), 0, 4))
t = t.append_column("month", pc.utf8_lpad(pc.cast(pc.month(local), pa.string()), 2, "0"))
t = t.append_column("day", pc.utf8_lpad(pc.cast(pc.day(local), pa.string()), 2, "0"))
t = t.drop([k for k in ("year", "month", "day") if k not in keys])
ds.write_dataset(t, out, format="parquet", partitioning=keys, partitioning_flavor="hive", max_partitions=4096,
                 file_options=ds.ParquetFileFormat().make_write_options(compression="snappy"),
                 existing_data_behavior="overwrite_or_ignore")
"""

DUCKDB_PEER = r"""
import sys, duckdb
src, out, keys = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f'''
COPY (
  SELECT ticker, open, high, low, close, volume,
         timezone('Australia/Sydney', strptime(date, '%Y%m%d')) AS time,
         substr(date, 1, 4) AS year, substr(date, 5, 2) AS month, substr(date, 7, 2) AS day
  FROM read_csv('{src}', header = false, columns = {{
    'ticker': 'VARCHAR', 'date': 'VARCHAR', 'open': 'DOUBLE', 'high': 'DOUBLE',
    'low': 'DOUBLE', 'close': 'DOUBLE', 'volume': 'BIGINT'}})
) TO '{out}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY ({keys}))
''')
"""


POLARS_PEER = r"""
import sys, polars as pl
src, out, keys = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
schema = {"ticker": pl.String, "date": pl.String, "open": pl.Float64, "high": pl.Float64,
          "low": pl.Float64, "close": pl.Float64, "volume": pl.Int64}
local = pl.col("date").str.strptime(pl.Datetime("ms"), "%Y%m%d")
(pl.scan_csv(src, has_header=False, schema=schema)
   .with_columns(time=local.dt.replace_time_zone("Australia/Sydney").dt.convert_time_zone("UTC"),
                 year=pl.col("date").str.slice(0, 4), month=pl.col("date").str.slice(4, 2), day=pl.col("date").str.slice(6, 2))
   .drop(["date"] + [k for k in ("year", "month", "day") if k not in keys])
   .sink_parquet(pl.PartitionBy(out, key=keys, include_key=False), compression="snappy", mkdir=True))
"""

# Streams records with ElementTree.iterparse, clearing each, and writes a
# Parquet file per year in batches: the usual Python way, in bounded memory.
ITERPARSE_PEER = r"""
import sys, datetime, xml.etree.ElementTree as ET, pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
src, out = sys.argv[1], Path(sys.argv[2])
T = "{urn:tenders}"
schema = pa.schema([("date", pa.date32()), ("id", pa.string()), ("buyer", pa.string()), ("tags", pa.string()),
                    ("lot", pa.int64()), ("lot_value", pa.float64()), ("currency", pa.string())])
writers, pending = {}, {}
def flush(year):
    rows = pending.pop(year)
    if year not in writers:
        (out / f"year={year}").mkdir(parents=True)
        writers[year] = pq.ParquetWriter(out / f"year={year}" / "part-0.parquet", schema, compression="snappy")
    writers[year].write_table(pa.Table.from_pylist(rows, schema))
for _, element in ET.iterparse(src):
    if element.tag != T + "notice":
        continue
    date = datetime.date.fromisoformat(element.findtext(T + "published"))
    shared = {"date": date, "id": element.get("id"), "buyer": element.findtext(f"{T}buyer/{T}name"),
              "tags": ",".join(tag.text for tag in element.iterfind("tags/tag"))}
    for lot in element.iterfind("lots/lot"):
        value = lot.find("value")
        row = {**shared, "lot": int(lot.get("number")), "lot_value": float(value.text), "currency": value.get("currency")}
        pending.setdefault(date.year, []).append(row)
    if len(pending.get(date.year, ())) >= 50_000:
        flush(date.year)
    element.clear()
for year in list(pending):
    flush(year)
for writer in writers.values():
    writer.close()
"""

DUCKDB_JSON_PEER = r"""
import sys, duckdb
src, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f'''
COPY (
  SELECT CAST(timestamp AS TIMESTAMPTZ) AS time, station.id AS station__id, station.name AS station__name,
         pm25, pm10, no2, '2024-01-15' AS export_date
  FROM read_json('{src}', format = 'newline_delimited', columns = {{
    'timestamp': 'VARCHAR', 'station': 'STRUCT(id VARCHAR, name VARCHAR)', 'pm25': 'DOUBLE',
    'pm10': 'DOUBLE', 'no2': 'DOUBLE', 'firmware': 'VARCHAR'}})
) TO '{out}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (export_date))
''')
"""


def write_grid(path, size):
    """One ESRI ASCII grid of about `size` bytes, 839 columns wide, every
    seventh cell NODATA; returns the number of cells with a value."""
    ncols = 839
    rows = [" ".join("-999" if (col + r) % 7 == 0 else f"{(col * 37 + r * 11) % 1200}.{r % 10}" for col in range(ncols)) + "\n" for r in range(64)]
    nrows = max(1, size // len(rows[0]))
    with open(path, "w") as out:
        out.write(f"ncols {ncols}\nnrows {nrows}\nxllcorner 112.0\nyllcorner -44.0\ncellsize 0.0001\nNODATA_value -999\n")
        for r in range(nrows):
            out.write(rows[r % 64])
    per_row = [sum(1 for col in range(ncols) if (col + r) % 7) for r in range(64)]
    return sum(per_row[r % 64] for r in range(nrows))


def write_jsonl(path, size):
    """A CYI air-quality export of about `size` bytes; returns its line count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines, written = 0, 0
    with open(path, "w") as out:
        while written < size:
            block = []
            for i in range(lines, lines + 10_000):
                hour, station = divmod(i, 50)
                block.append(
                    f'{{"timestamp":"2024-{1 + hour // 720 % 12:02}-{1 + hour // 24 % 28:02}T{hour % 24:02}:00:00Z",'
                    f'"station":{{"id":"S{station:02}","name":"Station {station}"}},'
                    f'"pm25":{(i * 7) % 400 / 10},"pm10":{(i * 13) % 900 / 10},"no2":{(i * 3) % 500 / 10},"firmware":"2.3.1"}}\n'
                )
            text = "".join(block)
            out.write(text)
            written += len(text)
            lines += len(block)
    return lines


def polars_installed():
    return subprocess.run([sys.executable, "-c", "import polars"], capture_output=True).returncode == 0


def measured(command, env=None):
    # The previous run's dirty pages are flushed first, so that no run pays
    # for its predecessor's writeback: right after an ingest (1 GB copied in,
    # 550 MB of Parquet written), the kernel's flushing took 3 to 6 s of the
    # next run's two cores.
    os.sync()
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


def run_tool(name, argv, folder, rows):
    """Runs one tool once; its (seconds, peak MiB) after checking its row count."""
    seconds, peak, _ = measured(argv)
    written = count_rows(folder)
    if written != rows:
        raise SystemExit(f"{name} wrote {written} rows, expected {rows}")
    return seconds, peak


def record(measurements, tool, run, measurement):
    """Keeps one run's (seconds, peak MiB) and prints it, so the spread shows beside the median."""
    measurements.setdefault(tool, []).append(measurement)
    print(f"  round {run + 1}: {tool:<17} {measurement[0]:>7.2f} s {measurement[1]:>7.0f} MiB", flush=True)


def csv_peers(source, keys):
    """The peers that convert the asx_eod CSV, as commands given an output folder."""
    peers = {
        "pyarrow": lambda out: [sys.executable, "-c", PYARROW_PEER, str(source), str(out), keys],
        "duckdb": lambda out: [sys.executable, "-c", DUCKDB_PEER, str(source), str(out), keys],
    }
    if polars_installed():
        peers["polars"] = lambda out: [sys.executable, "-c", POLARS_PEER, str(source), str(out), keys]
    return peers


def scenario(name, args, work, source, rows, keys, pipelines=None, peers=None, table="asx_eod", inlet_input=None, from_bucket=None):
    """Runs inlet and each of `peers` `args.runs` times on `source`; prints the table.

    With `from_bucket` (a pipeline's name), each inlet run is followed by
    `inlet reprocess` of that pipeline, timed as its own row: the input is
    then already in the local bucket and read in place, as the peers read
    theirs, where `ingest` first copies it into the bucket as an upload would.
    """
    inlet = [str(args.inlet), *(["--pipelines", str(pipelines)] if pipelines else [])]
    tools = {"inlet": lambda out: [*inlet, "--state-dir", str(out), "ingest", str(inlet_input or source)]}
    tools.update(peers or {})
    size_mb = source.stat().st_size / 1e6
    print(f"\n== {name}: {source.name}, {size_mb:,.0f} MB, {rows:,} rows, partitioned by {keys}; median of {args.runs}", flush=True)
    measurements = {}
    # Rounds, each running every tool once: the machine's speed drifts over
    # minutes, and a drift then moves every tool's median alike instead of
    # whichever tool ran during it.
    for run in range(args.runs):
        for tool, command in tools.items():
            out = work / f"{name}-{tool}-{run}"
            folder = out / "buckets" / "output" / table if tool == "inlet" else out
            record(measurements, tool, run, run_tool(tool, command(out), folder, rows))
            if tool == "inlet" and from_bucket:
                again = [*inlet, "--state-dir", str(out), "reprocess", from_bucket]
                record(measurements, "inlet, in bucket", run, run_tool("inlet reprocess", again, folder, rows))
            shutil.rmtree(out, ignore_errors=True)
    results = {tool: (statistics.median(s for s, _ in runs), max(m for _, m in runs)) for tool, runs in measurements.items()}
    print(f"{'tool':<17} {'seconds':>8} {'MB/s':>8} {'rows/s':>12} {'peak MiB':>9}")
    for tool, (seconds, peak) in results.items():
        print(f"{tool:<17} {seconds:>8.2f} {size_mb / seconds:>8.1f} {rows / seconds:>12,.0f} {peak:>9.0f}")
    for variant in [tool for tool in results if tool.startswith("inlet")]:
        base_s, base_m = results[variant]
        for peer in [tool for tool in results if not tool.startswith("inlet")]:
            s, m = results[peer]
            print(f"{variant} vs {peer}: {base_s / s:.2f}x its wall time, {base_m / m:.2f}x its peak memory")
    print(json.dumps({"scenario": name, **{k: {"seconds": round(v[0], 3), "peak_mib": round(v[1], 1)} for k, v in results.items()}}))
    return results


def kill_and_rerun(args, work, source, rows, kills, full_seconds):
    """Kills inlet at random points of an ingest; each re-run must leave exactly `rows` rows."""
    import random
    import signal

    rng = random.Random(5)
    print(f"\n== kills: SIGKILL at {kills} random points of the csv ingest (0 to {full_seconds:.1f} s), then a re-run", flush=True)
    for trial in range(kills):
        state = work / f"kill-{trial}"
        command = [str(args.inlet), "--state-dir", str(state), "ingest", str(source)]
        delay = rng.uniform(0.05, full_seconds)
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run.wait(timeout=delay)
            outcome = "finished before the kill"
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGKILL)
            run.wait()
            outcome = "killed"
        rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if rerun.returncode != 0:
            raise SystemExit(f"the re-run after a kill at {delay:.2f} s failed:\n{rerun.stdout}\n{rerun.stderr}")
        written = count_rows(state / "buckets" / "output" / "asx_eod")
        verdict = "exact" if written == rows else f"WRONG: expected {rows:,}"
        print(f"kill at {delay:6.2f} s ({outcome}): re-run left {written:,} rows, {verdict}", flush=True)
        if written != rows:
            raise SystemExit(1)
        shutil.rmtree(state, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024, help="input size in MiB (default 1024)")
    parser.add_argument("--runs", type=int, default=1, help="runs per tool and scenario; the median is reported (default 1)")
    parser.add_argument("--scenarios", default="csv,zip,daily,grid,jsonl,xml", help="which of csv, zip, daily, grid, jsonl, xml to run (default all)")
    parser.add_argument("--kills", type=int, default=0, help="SIGKILL inlet at this many random points of the csv ingest")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    parser.add_argument("--inlet", type=Path, default=target / "release" / "inlet")
    args = parser.parse_args()
    if not args.inlet.is_file():
        raise SystemExit(f"{args.inlet} is missing: cargo build --release -p inlet-cli")
    chosen = set(args.scenarios.split(","))

    work = Path(tempfile.mkdtemp(prefix="inlet-bench-"))
    try:
        print(f"machine: {os.cpu_count()} cores; inlet {args.inlet}")
        source = work / "asx_eod_bench.csv"
        rows = write_eod(source, args.mib << 20, seed=42)
        results = {}
        if "csv" in chosen or args.kills:
            peers = csv_peers(source, "year,month")
            results["csv"] = scenario("csv", args, work, source, rows, "year,month", peers=peers, from_bucket="asx_eod")
        if "zip" in chosen:
            archive = work / "asx_eod_bench.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                z.write(source, source.name)
            scenario("zip", args, work, archive, rows, "year,month")
            archive.unlink()
        if args.kills:
            kill_and_rerun(args, work, source, rows, args.kills, results["csv"]["inlet"][0])
        source.unlink()
        if "daily" in chosen:
            daily = work / "asx_daily_bench.csv"
            daily_rows = write_eod_daily(daily, args.mib << 20)
            pipelines = daily_pipeline(REPO, work / "pipelines")
            keys = "year,month,day"
            scenario("daily", args, work, daily, daily_rows, keys, pipelines=pipelines, peers=csv_peers(daily, keys), table="asx_daily")
            daily.unlink()
        if "grid" in chosen:
            grid = work / "solar_ghi_20240115_03UT.txt"
            cells = write_grid(grid, args.mib << 20)
            scenario("grid", args, work, grid, cells, "year,month,day,hour", table="bom_radiation")
            grid.unlink()
        if "jsonl" in chosen:
            drop = work / "jsonl-drop"
            export = drop / "cyi" / "air_quality" / "2024-01-15" / "export.jsonl"
            lines = write_jsonl(export, args.mib << 20)
            peers = {"duckdb": lambda out: [sys.executable, "-c", DUCKDB_JSON_PEER, str(export), str(out)]}
            scenario("jsonl", args, work, export, lines, "export_date", peers=peers, table="cyi_air_quality", inlet_input=drop)
            shutil.rmtree(drop)
        if "xml" in chosen:
            records = work / "tenders_bench.xml"
            rows = write_records(records, args.mib << 20)
            pipelines = records_pipeline(work / "xml-pipelines")
            peers = {"iterparse": lambda out: [sys.executable, "-c", ITERPARSE_PEER, str(records), str(out)]}
            scenario("xml", args, work, records, rows, "year", pipelines=pipelines, peers=peers, table="tenders")
            records.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
