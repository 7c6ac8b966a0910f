"""Backfills on a local Spark (PyPI's pyspark, Java 17): the cyi_exports step
scripts over five generated days, one of them empty, read back with DuckDB;
then `inlet backfill`, killed with SIGKILL in its second step and resumed.

Each spark-submit takes 10-20 s to start, so these tests run a bounded
number of them (nine in all)."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import emr_data  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SCRIPTS = REPO / "pipelines" / "cyi_exports" / "emr"
FIRST_DAY = dt.date(2024, 1, 1)
SPARK_TIMEOUT = 300


def spark_env():
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "INLET_SPARK_SUBMIT": str(VENV_BIN / "spark-submit"),
    }


def submit(script, *args):
    command = [
        str(VENV_BIN / "spark-submit"), "--master", "local[2]",
        "--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false",
        "--py-files", str(SCRIPTS / "common.py"), str(SCRIPTS / script), *args,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=SPARK_TIMEOUT, env=spark_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def sql(text):
    """Rows of `text` on a connection of its own: the module's default
    connection may hold another test's unfinished result."""
    with duckdb.connect() as connection:
        return connection.execute(text).fetchall()


def rows_per_day(buckets):
    glob = f"{buckets}/output/{emr_data.TABLE}/**/*.parquet"
    return dict(sql(f"SELECT export_date::VARCHAR, count(*) FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY 1"))


def run_folders(buckets):
    return sorted(str(p.relative_to(buckets)) for p in (buckets / "output" / emr_data.TABLE).glob("*/run-*"))


def test_the_step_scripts_load_each_day_once_however_often_they_run(tmp_path):
    buckets = tmp_path / "buckets"
    expected = emr_data.write_days(buckets / "input", FIRST_DAY, 5, empty_index=2)
    common = ["--s3_bucket_name", "input", "--output_bucket", "output", "--table", emr_data.TABLE, "--storage_root", str(buckets), "--catalog", "local"]
    range_run = ["--correlation_id", "range-1", "--s3_prefix", "cyi_exports/", "--start_date", "2024-01-01", "--export_date", "2024-01-05", *common]

    loaded = submit("load_days.py", *range_run)
    empty = [e for e in loaded if e["event"] == "empty_day"]
    assert [e["date"] for e in empty] == ["2024-01-03"], "the empty day is skipped with a line an alarm can match"
    assert rows_per_day(buckets) == {d: n for d, n in expected.items() if n}, "the loaded days, before publishing"
    submit("publish_days.py", *range_run)
    assert rows_per_day(buckets) == {d: n for d, n in expected.items() if n}
    assert len(run_folders(buckets)) == 4, "one run folder per loaded day"

    # A day again, as its own daily run: its partition is replaced, not added to.
    daily = ["--correlation_id", "day-2", "--s3_prefix", "cyi_exports/2024-01-02/", "--export_date", "2024-01-02", *common]
    submit("load_days.py", *daily)
    submit("publish_days.py", *daily)
    assert rows_per_day(buckets) == {d: n for d, n in expected.items() if n}
    folders = run_folders(buckets)
    assert len(folders) == 4 and any("export_date=2024-01-02/run-day-2-" in f for f in folders), folders

    # DuckDB reads the types the Lambda path writes.
    glob = f"{buckets}/output/{emr_data.TABLE}/**/*.parquet"
    types = {row[0]: row[1] for row in sql(f"DESCRIBE SELECT * FROM read_parquet('{glob}')")}
    assert types["time"] == "TIMESTAMP WITH TIME ZONE" and types["pm25"] == "DOUBLE" and types["qc_no2"] == "INTEGER", types
    [(flagged,)] = sql(f"SELECT count(*) FROM read_parquet('{glob}') WHERE no2 IS NULL AND qc_no2 = 1")
    assert flagged == sum(1 for n in expected.values() if n) * 9, "each day's missing no2 readings are flagged"


def read_run(state_dir):
    path = state_dir / "runs.json"
    if not path.exists():
        return None
    try:
        runs = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # between a write and its rename
    return next(iter(runs.values()), None)


def test_a_killed_backfill_resumes_from_its_step_and_gives_the_same_table(inlet):
    expected = emr_data.write_days(inlet.buckets / "input", FIRST_DAY, 5, empty_index=2)
    backfill = ["backfill", "--product", "cyi_exports", "--from", "2024-01-01", "--to", "2024-01-05", "--lease", "4"]
    env = {**spark_env(), "INLET_STATE_DIR": str(inlet.state_dir)}
    # Spark logs a lot: to a file, so a full pipe never blocks it.
    log = (inlet.state_dir.parent / "killed-backfill.log").open("w")
    process = subprocess.Popen([str(inlet.binary), *backfill], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + SPARK_TIMEOUT
    while time.time() < deadline:
        run = read_run(inlet.state_dir)
        if run and run["current_step"] == 1:
            break
        assert process.poll() is None, Path(log.name).read_text()[-5000:]
        time.sleep(0.2)
    else:
        pytest.fail("the first step did not finish in time")
    # Kill the backfill and its Spark, as a crash would.
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    killed = read_run(inlet.state_dir)
    assert (killed["status"], killed["current_step"], killed["run_id"]) == ("IN_PROGRESS", 1, 1)

    early = inlet.run(*backfill, check=False, env=env)
    assert early.returncode == 1 and "is running" in early.stdout, early.stdout + early.stderr
    time.sleep(max(0, killed["lease_until"] - time.time()) + 1)

    resumed = inlet.run(*backfill, env=env)
    assert "step 1/2" not in resumed.stdout, "the finished step is not run again"
    assert "run 2 resumed at step 2/2 (publish-days)" in resumed.stdout, resumed.stdout
    assert "run 2 completed" in resumed.stdout
    counts = {r["export_date"]: r["n"] for r in inlet.query("SELECT export_date, count(*) AS n FROM cyi_air_quality GROUP BY 1")}
    assert counts == {d: n for d, n in expected.items() if n}
    assert rows_per_day(inlet.buckets) == counts, "DuckDB reads what inlet query reads"

    listed = inlet.run("runs", "list", "--json").stdout
    [run] = json.loads(listed)
    assert (run["status"], run["run_id"], run["current_step"]) == ("COMPLETED", 2, 2)
    again = inlet.run(*backfill, env=env)
    assert "already completed" in again.stdout

    # Cleared, the next start runs every step again, and the table stays the same.
    inlet.run("runs", "clear", "--correlation-id", run["correlation_id"], "--product", "cyi_exports")
    fresh = inlet.run(*backfill, env=env)
    assert "step 1/2: load-days" in fresh.stdout and "run 1 completed" in fresh.stdout, fresh.stdout
    counts = {r["export_date"]: r["n"] for r in inlet.query("SELECT export_date, count(*) AS n FROM cyi_air_quality GROUP BY 1")}
    assert counts == {d: n for d, n in expected.items() if n}


def test_publishing_points_the_glue_partition_at_the_new_run_in_one_call(tmp_path):
    """The publish step's catalog call on moto's Glue: the first run creates
    the table and the partition, a later one moves the partition."""
    from aws_local import client, moto_server

    sys.path.insert(0, str(SCRIPTS))
    import publish_days

    columns = [{"Name": "time", "Type": "timestamp"}, {"Name": "pm25", "Type": "double"}]
    with moto_server(tmp_path) as endpoint:
        glue = client("glue", endpoint)
        glue.create_database(DatabaseInput={"Name": "inlet"})
        day = dt.date(2024, 1, 2)
        first = f"s3://out/{emr_data.TABLE}/export_date=2024-01-02/run-a-20240103T000000/"
        second = f"s3://out/{emr_data.TABLE}/export_date=2024-01-02/run-b-20240104T000000/"
        assert publish_days.point_partition(glue, "inlet", emr_data.TABLE, day, first, columns) == "created"
        assert publish_days.point_partition(glue, "inlet", emr_data.TABLE, day, second, columns) == "updated"
        table = glue.get_table(DatabaseName="inlet", Name=emr_data.TABLE)["Table"]
        assert [k["Name"] for k in table["PartitionKeys"]] == ["export_date"]
        assert table["StorageDescriptor"]["Location"] == f"s3://out/{emr_data.TABLE}/"
        partitions = glue.get_partitions(DatabaseName="inlet", TableName=emr_data.TABLE)["Partitions"]
        assert [(p["Values"], p["StorageDescriptor"]["Location"]) for p in partitions] == [(["2024-01-02"], second)]
