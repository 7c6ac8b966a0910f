"""Runs that die, and runs that overlap, on the local backend: what a SIGKILL
leaves behind is swept by the next run, which then loads exactly the input's
rows; eight `inlet ingest` processes on one state directory lose nothing."""
import json
import os
import signal
import subprocess
import time

import duckdb

from eod_data import write_eod


def scratch_and_staging(inlet):
    scratch = inlet.state_dir / "scratch"
    leftovers = [p for p in scratch.iterdir()] if scratch.exists() else []
    for bucket in ("input", "output"):
        staging = inlet.buckets / bucket / ".inlet-staging"
        if staging.exists():
            leftovers += [p for p in staging.iterdir() if p.name != "lock"]
    return leftovers


def parquet_rows(inlet, table):
    return duckdb.execute(
        f"SELECT count(*) FROM read_parquet('{inlet.buckets}/output/{table}/**/*.parquet', hive_partitioning=true)"
    ).fetchone()[0]


def test_a_run_killed_mid_file_leaves_nothing_after_the_next_run(inlet, tmp_path):
    source = tmp_path / "asx_eod_big.csv"
    rows = write_eod(source, 40 << 20)
    env = {**os.environ, "INLET_STATE_DIR": str(inlet.state_dir)}
    run = subprocess.Popen([str(inlet.binary), "ingest", str(source)], cwd=inlet.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Kill it once it is converting: its scratch folder holds Parquet by then.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        scratch = inlet.state_dir / "scratch"
        if scratch.exists() and any(any(d.glob("*.parquet")) for d in scratch.iterdir() if d.is_dir()):
            break
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before it could be killed; make the input bigger"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert scratch_and_staging(inlet), "the killed run left scratch behind, as a killed run does"

    second = inlet.run("ingest", source)
    assert f"{rows} rows written" in second.stdout, second.stdout
    assert scratch_and_staging(inlet) == [], "the second run swept the killed run's scratch and left none of its own"
    assert parquet_rows(inlet, "asx_eod") == rows, "exactly the input's rows"


def test_kills_at_random_points_then_a_re_run_leave_exactly_the_input_rows(inlet, tmp_path):
    """Three kills at seeded random moments of one ingest (before, during or
    after the conversion, the upload or the commit); each re-run ends exact."""
    import random

    source = tmp_path / "asx_eod_killed.csv"
    rows = write_eod(source, 24 << 20)
    started = time.monotonic()
    inlet.run("ingest", source)
    full = time.monotonic() - started
    assert parquet_rows(inlet, "asx_eod") == rows
    rng = random.Random(3)
    env = {**os.environ}
    for trial in range(3):
        state = tmp_path / f"state-{trial}"
        env["INLET_STATE_DIR"] = str(state)
        run = subprocess.Popen([str(inlet.binary), "ingest", str(source)], cwd=inlet.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delay = rng.uniform(0.05, full)
        try:
            run.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
        rerun = subprocess.run([str(inlet.binary), "ingest", str(source)], cwd=inlet.cwd, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, f"re-run after a kill at {delay:.2f} s: {rerun.stdout}{rerun.stderr}"
        written = duckdb.execute(
            f"SELECT count(*) FROM read_parquet('{state}/buckets/output/asx_eod/**/*.parquet', hive_partitioning=true)"
        ).fetchone()[0]
        assert written == rows, f"kill at {delay:.2f} s of {full:.2f} s: {written} rows after the re-run, expected {rows}"


def test_eight_concurrent_ingests_lose_no_partition(inlet, tmp_path):
    runs = []
    env = {**os.environ, "INLET_STATE_DIR": str(inlet.state_dir)}
    for writer in range(8):
        year = 2010 + writer
        source = tmp_path / f"asx_eod_{year}.csv"
        source.write_text("".join(f"T{writer},{year}{month:02d}15,1,2,0.5,1.5,100\n" for month in range(1, 13)))
        runs.append(subprocess.Popen([str(inlet.binary), "ingest", str(source)], cwd=inlet.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, out + err
    catalog = json.loads((inlet.state_dir / "catalog.json").read_text())
    registered = catalog["databases"]["inlet"]["asx_eod"]["partitions"]
    assert len(registered) == 96, "every process's partitions are in the catalog"
    assert len({tuple(p["values"]) for p in registered}) == 96
    assert parquet_rows(inlet, "asx_eod") == 96
    assert inlet.query("SELECT count(*) AS n FROM asx_eod") == [{"n": 96}]
