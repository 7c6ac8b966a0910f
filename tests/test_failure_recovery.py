"""Runs that die, and runs that overlap, on the local backend: what a SIGKILL
leaves behind is swept by the next run, which then loads exactly the input's
rows; eight `inlet ingest` processes on one state directory lose nothing."""
import json
import os
import shutil
import signal
import subprocess
import time

import duckdb

from conftest import Inlet
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


KILL_POINTS = 24


def test_kills_at_two_dozen_seeded_points_then_a_re_run_leave_exactly_one_clean_run(inlet, tmp_path):
    """A folder of a CSV and a zip of two more, killed with SIGKILL at 24
    seeded moments spread over one clean run (routing, expanding, converting,
    uploading, committing, moving to done/); after each, one re-run leaves
    exactly the clean run's rows, every input in done/, and no scratch."""
    import random
    import zipfile

    drop = tmp_path / "drop"
    drop.mkdir()
    rows = write_eod(drop / "asx_eod_killed.csv", 3 << 20)
    for name in ("asx_eod_zipped_1.csv", "asx_eod_zipped_2.csv"):
        rows += write_eod(tmp_path / name, 1 << 20)
    with zipfile.ZipFile(drop / "asx_eod_killed.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("asx_eod_zipped_1.csv", "asx_eod_zipped_2.csv"):
            archive.write(tmp_path / name, name)
    started = time.monotonic()
    inlet.run("ingest", drop)
    full = time.monotonic() - started
    assert parquet_rows(inlet, "asx_eod") == rows
    clean_inputs = inlet.keys("input")

    rng = random.Random(15)
    # The first run pays for cold caches; later ones are quicker.
    delays = sorted(rng.uniform(0.02, 0.8 * full) for _ in range(KILL_POINTS))
    killed = 0
    for trial, delay in enumerate(delays):
        state = tmp_path / f"state-{trial}"
        env = {**os.environ, "INLET_STATE_DIR": str(state)}
        run = subprocess.Popen([str(inlet.binary), "ingest", str(drop)], cwd=inlet.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            killed += 1
        rerun = subprocess.run([str(inlet.binary), "ingest", str(drop)], cwd=inlet.cwd, env=env, capture_output=True, text=True, timeout=300)
        where = f"kill {trial} at {delay:.2f} s of {full:.2f} s"
        assert rerun.returncode == 0, f"{where}: {rerun.stdout}{rerun.stderr}"
        at = Inlet(inlet.binary, state, inlet.cwd)
        assert parquet_rows(at, "asx_eod") == rows, where
        assert at.keys("input") == clean_inputs, f"{where}: every input in done/, as after a clean run"
        assert scratch_and_staging(at) == [], f"{where}: scratch left behind"
        shutil.rmtree(state)
    assert killed >= KILL_POINTS * 2 // 3, f"only {killed} of {KILL_POINTS} runs were still going when their kill came"


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
