"""The CLI against an S3-API endpoint (moto's server): the same flow on S3 and
Glue, and SQL through Athena's API."""
import json
import urllib.request

import pytest

from conftest import REPO
from aws_local import CREDENTIALS, client, moto_server


@pytest.fixture
def moto(tmp_path):
    with moto_server(tmp_path) as endpoint:
        for bucket in ("input", "output"):
            client("s3", endpoint).create_bucket(Bucket=bucket)
        client("glue", endpoint).create_database(DatabaseInput={"Name": "inlet"})
        yield endpoint


def aws_run(inlet, endpoint, *args, check=True):
    return inlet.run("--endpoint", endpoint, *args, check=check, env=CREDENTIALS)


def test_ingest_writes_to_s3_and_registers_in_glue(inlet, moto):
    result = aws_run(inlet, moto, "ingest", REPO / "data")
    assert "0 failed" in result.stdout and "s3://output/" in result.stdout
    s3, glue = client("s3", moto), client("glue", moto)
    inputs = [o["Key"] for o in s3.list_objects_v2(Bucket="input")["Contents"]]
    assert inputs and all(k.startswith("done/") for k in inputs)
    outputs = [o["Key"] for o in s3.list_objects_v2(Bucket="output")["Contents"] if o["Key"].endswith(".parquet")]
    assert len(outputs) == 16
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="inlet")["TableList"]}
    assert set(tables) == {
        "asx_eod",
        "asx_eod_rejects",
        "a2e_buoy_conductivity",
        "a2e_buoy_gps",
        "a2e_buoy_surfacetemp",
        "a2e_buoy_wind",
        "bom_radiation",
        "cyi_air_quality",
        "ted_notices",
    }
    assert tables["asx_eod"]["StorageDescriptor"]["Location"] == "s3://output/asx_eod/"
    partitions = glue.get_partitions(DatabaseName="inlet", TableName="a2e_buoy_wind")["Partitions"]
    assert sorted(p["Values"][0] for p in partitions) == ["humboldt", "morro"]

    listing = aws_run(inlet, moto, "tables").stdout
    assert "asx_eod_rejects" in listing and "a2e_buoy_wind" in listing
    # Local SQL needs local files; the message says what to do instead.
    refused = aws_run(inlet, moto, "query", "SELECT 1", check=False)
    assert refused.returncode == 2 and "--athena" in refused.stderr


def test_query_through_athena(inlet, moto):
    results = {
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": "location"}, {"VarCharValue": "rows"}]}, {"Data": [{"VarCharValue": "humboldt"}, {"VarCharValue": "144"}]}],
                "column_info": [{"Name": "location", "Type": "varchar"}, {"Name": "rows", "Type": "bigint"}],
            }
        ]
    }
    request = urllib.request.Request(f"{moto}/moto-api/static/athena/query-results", data=json.dumps(results).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    assert urllib.request.urlopen(request).status == 201
    out = aws_run(inlet, moto, "query", "--athena", "--athena-output", "s3://output/athena/", "--format", "json",
                  "SELECT location, count(*) AS rows FROM a2e_buoy_wind GROUP BY 1")
    assert [json.loads(l) for l in out.stdout.splitlines()] == [{"location": "humboldt", "rows": "144"}]
    assert "athena query" in out.stderr
