"""Faults between inlet and AWS, injected by a loopback proxy in front of
moto's server (tests/fault_proxy.py): S3 throttling and 500s on GET, PUT,
multipart part and complete, connections cut mid-GET and mid-upload, Glue
throttling on BatchCreatePartition. In every case, the SDK's retries or a
re-run of the same command (what an SQS redelivery is to a function) end
with exactly the rows of one clean run, every output readable, every input in
done/, and no multipart upload left open."""
import pytest

import duckdb

from aws_local import CREDENTIALS, client, moto_with_buckets
from eod_data import write_eod
from fault_proxy import FaultProxy, Rule

RUNS = 4  # the first, and as many redeliveries as a queue's maxReceiveCount of 3 allows
INPUT = "asx_eod_faults.csv"
# 12 MiB: the CLI uploads it in two parts of a multipart upload.
INPUT_BYTES = 12 << 20

GET_INPUT = rf"^/input/in/{INPUT}\?x-id=GetObject"
PUT_PARQUET = r"^/output/.*\.parquet\?x-id=PutObject"

# Enough failures in a row to outlast the SDK's four attempts.
EXHAUSTING = 8

SCENARIOS = {
    "503 SlowDown on the input's GET": Rule("slow_down", method="GET", path=GET_INPUT),
    "500 on the input's GET, past the SDK's retries": Rule("internal", method="GET", path=GET_INPUT, times=EXHAUSTING),
    "503 SlowDown on every Parquet PUT, past the SDK's retries": Rule("slow_down", method="PUT", path=PUT_PARQUET, times=EXHAUSTING),
    "500 on a Parquet PUT": Rule("internal", method="PUT", path=PUT_PARQUET),
    "503 on a multipart part": Rule("slow_down", method="PUT", path=r"partNumber=2"),
    "500 on multipart complete, past the SDK's retries": Rule("internal", method="POST", path=r"[?&]uploadId=", times=EXHAUSTING),
    "connection cut mid-GET": Rule("cut_response", method="GET", path=GET_INPUT),
    "connection cut mid-GET, three deliveries in a row": Rule("cut_response", method="GET", path=GET_INPUT, times=RUNS - 1),
    "connection cut mid-part": Rule("cut_request", method="PUT", path=r"partNumber=1"),
    "Glue throttling on BatchCreatePartition": Rule("throttle", target="AWSGlue.BatchCreatePartition", times=2),
    "Glue throttling on BatchCreatePartition, past the SDK's retries": Rule("throttle", target="AWSGlue.BatchCreatePartition", times=EXHAUSTING),
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    rows = write_eod(folder / INPUT, INPUT_BYTES)
    return folder / INPUT, rows


@pytest.fixture
def moto(tmp_path):
    with moto_with_buckets(tmp_path) as endpoint:
        yield endpoint


def keys(s3, bucket):
    return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])]


def rows_in_output(s3, tmp_path):
    total = 0
    for n, key in enumerate(k for k in keys(s3, "output") if k.startswith("asx_eod/") and k.endswith(".parquet")):
        local = tmp_path / f"out-{n}.parquet"
        local.write_bytes(s3.get_object(Bucket="output", Key=key)["Body"].read())
        total += duckdb.execute(f"SELECT count(*) FROM read_parquet('{local}')").fetchone()[0]
    return total


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_fault_then_retries_leave_exactly_one_clean_run(inlet, moto, source, tmp_path, name):
    path, rows = source
    rule = Rule(**{**SCENARIOS[name].__dict__, "fired": 0})
    with FaultProxy(moto) as proxy:
        proxy.add(rule)
        outcomes, command = [], ["ingest", path]
        for _ in range(RUNS):
            run = inlet.run("--endpoint", proxy.endpoint, *command, check=False, env=CREDENTIALS)
            outcomes.append(run)
            if run.returncode == 0:
                break
            # What the message says to do next.
            command = ["repair"] if "run `inlet repair`" in run.stdout else ["ingest", path]
    assert rule.fired >= 1, f"the fault never happened; requests: {proxy.requests[:20]}"
    assert outcomes[-1].returncode == 0, "\n".join(r.stdout + r.stderr for r in outcomes)
    for run in outcomes[:-1]:
        said = run.stdout + run.stderr
        assert "run the same command again" in said or "run `inlet repair`" in said, said

    s3 = client("s3", moto)
    assert rows_in_output(s3, tmp_path) == rows, f"{name}: after {len(outcomes)} runs"
    assert keys(s3, "input") == [f"done/{INPUT}"]
    for bucket in ("input", "output"):
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], f"an upload left open in {bucket}"
    partitions = client("glue", moto).get_partitions(DatabaseName="inlet", TableName="asx_eod")["Partitions"]
    assert len(partitions) == len({tuple(p["Values"]) for p in partitions}) > 0, "each partition registered once"
