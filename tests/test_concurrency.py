"""Overlapping work, on the local backend and on moto's S3 and Glue: two
processes given the same object at once make one set of outputs, as do two
instances of the pipeline-runner function under cargo-lambda's emulator
invoked with the same event at once; and two files for the same partition
processed at once by separate processes both appear in full, the partition
registered once. (Eight writers to the local catalog at once:
tests/test_failure_recovery.py.)"""
import hashlib
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest

from aws_local import CREDENTIALS, client, invoke, lambda_emulator, moto_server, moto_with_buckets, sqs_event
from eod_data import write_eod

ROUNDS = 3


@pytest.fixture(params=["local", "moto"])
def backend(request, tmp_path):
    """The arguments that point `inlet` at the backend, and a way to read the
    output bucket back as local files."""
    if request.param == "local":
        yield {"args": [], "env": {}, "output": lambda: tmp_path / "state" / "buckets" / "output", "inputs": lambda: local_keys(tmp_path / "state" / "buckets" / "input")}
        return
    with moto_server(tmp_path) as endpoint:
        s3 = client("s3", endpoint)
        for bucket in ("input", "output"):
            s3.create_bucket(Bucket=bucket)
        client("glue", endpoint).create_database(DatabaseInput={"Name": "inlet"})

        output = lambda: download(s3, "output", tmp_path / "output-copy")
        yield {"args": ["--endpoint", endpoint], "env": CREDENTIALS, "output": output, "inputs": lambda: s3_keys(s3, "input"), "glue": client("glue", endpoint)}


def local_keys(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not str(p.relative_to(root)).startswith(".inlet-staging"))


def s3_keys(s3, bucket):
    return sorted(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", []))


def download(s3, bucket, folder):
    for key in s3_keys(s3, bucket):
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return folder


def run_together(inlet, backend, *sources):
    env = {**os.environ, "INLET_STATE_DIR": str(inlet.state_dir), **backend["env"]}
    runs = [
        subprocess.Popen([str(inlet.binary), *backend["args"], "ingest", str(s)], cwd=inlet.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for s in sources
    ]  # fmt: skip
    return [(run.wait(timeout=300), run.stdout.read() + run.stderr.read()) for run in runs]


def table_files_and_rows(folder, table):
    files = sorted(str(p.relative_to(folder)) for p in (folder / table).rglob("*.parquet"))
    rows = duckdb.execute(f"SELECT count(*) FROM read_parquet('{folder}/{table}/**/*.parquet')").fetchone()[0] if files else 0
    return files, rows


def test_two_processes_given_the_same_object_at_once_make_one_set_of_outputs(inlet, backend, tmp_path):
    source = tmp_path / "asx_eod_same.csv"
    rows = write_eod(source, 4 << 20)
    sets = []
    for round in range(ROUNDS):
        results = run_together(inlet, backend, source, source)
        assert all(code in (0, 1) for code, _ in results), results
        # A run that found the other one at work says so and leaves the
        # input to it; the next run loads it if neither did.
        if any(code for code, _ in results):
            code, said = run_together(inlet, backend, source)[0]
            assert code == 0, said
        files, written = table_files_and_rows(backend["output"](), "asx_eod")
        assert written == rows, f"round {round}: {written} rows, the input has {rows}: {results}"
        sets.append(files)
        assert backend["inputs"]() == ["done/asx_eod_same.csv"]
    assert sets == [sets[0]] * ROUNDS, "each round names the same files"


def test_two_files_for_one_partition_at_once_both_appear_in_full(inlet, backend, tmp_path):
    first, second = tmp_path / "asx_eod_first.csv", tmp_path / "asx_eod_second.csv"
    rows = write_eod(first, 2 << 20) + write_eod(second, 2 << 20, seed=8)
    results = run_together(inlet, backend, first, second)
    assert [code for code, _ in results] == [0, 0], results
    files, written = table_files_and_rows(backend["output"](), "asx_eod")
    assert written == rows
    assert backend["inputs"]() == ["done/asx_eod_first.csv", "done/asx_eod_second.csv"]
    partitions = {f.rsplit("/", 1)[0] for f in files}
    if "glue" in backend:
        registered = backend["glue"].get_partitions(DatabaseName="inlet", TableName="asx_eod")["Partitions"]
        values = [tuple(p["Values"]) for p in registered]
    else:
        catalog = json.loads((inlet.state_dir / "catalog.json").read_text())
        values = [tuple(p["values"]) for p in catalog["databases"]["inlet"]["asx_eod"]["partitions"]]
    assert len(values) == len(set(values)) == len(partitions), f"each partition registered once: {values} for {partitions}"


def notification(bucket, key, message_id):
    """An SQS message carrying S3's notification of one created object."""
    body = json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})
    return {"MessageId": message_id, "ReceiptHandle": f"handle-{message_id}", "Body": body, "MD5OfBody": hashlib.md5(body.encode()).hexdigest()}


def test_two_runner_instances_given_the_same_event_at_once_make_one_set_of_outputs(tmp_path):
    source = tmp_path / "asx_eod_twice.csv"
    rows = write_eod(source, 4 << 20)
    with moto_with_buckets(tmp_path) as endpoint:
        s3 = client("s3", endpoint)
        environment = {
            "INPUT_BUCKET": "input", "OUTPUT_BUCKET": "output", "GLUE_DATABASE": "inlet",
            "UNZIP_QUEUE_URL": client("sqs", endpoint).create_queue(QueueName="unzip")["QueueUrl"],
        }  # fmt: skip
        with lambda_emulator(endpoint, environment, tmp_path, concurrency=2) as emulator:
            sets = []
            for round in range(2):
                s3.put_object(Bucket="input", Key="in/asx_eod_twice.csv", Body=source.read_bytes())
                event = sqs_event([notification("input", "in/asx_eod_twice.csv", f"m-{round}")])
                folders = [tmp_path / f"round-{round}-{n}" for n in range(2)]
                for folder in folders:
                    folder.mkdir()
                with ThreadPoolExecutor(2) as pool:
                    answers = list(pool.map(lambda folder: invoke(emulator, "pipeline-runner", event, folder), folders))
                results = [r for answer in answers for r in answer["results"]]
                outcomes = sorted(r["outcome"] for r in results)
                # S3 has no lock to take: both may load, and then both write
                # the same names, which the input alone decides. Otherwise
                # the later one finds it at work (a retry, left to the
                # queue's redelivery) or already done (gone).
                assert set(outcomes) <= {"loaded", "retry", "gone"}, answers
                written_by_each = {tuple(sorted(r["files"])) for r in results if r["outcome"] == "loaded"}
                assert len(written_by_each) <= 1, f"two loads named different files: {written_by_each}"
                if "loaded" not in outcomes:
                    redelivered = invoke(emulator, "pipeline-runner", event, folders[0])
                    assert [r["outcome"] for r in redelivered["results"]] in (["loaded"], ["gone"]), redelivered
                files, written = table_files_and_rows(download(s3, "output", tmp_path / f"output-{round}"), "asx_eod")
                assert written == rows, f"round {round}: {written} rows, the input has {rows}: {answers}"
                assert s3_keys(s3, "input") == ["done/asx_eod_twice.csv"]
                sets.append(files)
            assert sets[0] == sets[1], "the object loaded again names the same files"
