"""The CLI against an S3-API endpoint (moto's server): the same flow on S3 and
Glue, and SQL through Athena's API."""
import json
import sys
import urllib.request

import pytest

from conftest import REPO
from aws_local import CREDENTIALS, client, moto_with_buckets


@pytest.fixture
def moto(tmp_path):
    with moto_with_buckets(tmp_path) as endpoint:
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


def test_backfill_runs_and_stop_on_the_stacks_table_queue_and_emr(inlet, moto):
    """`inlet backfill`, `inlet runs` and `inlet emr stop` with --backend aws:
    the payload goes to the launcher's queue, runs are rows of the table in
    the launcher's layout, and stop ends the product's clusters on moto's EMR."""
    sqs, dynamodb, emr = client("sqs", moto), client("dynamodb", moto), client("emr", moto)
    queue = sqs.create_queue(QueueName="launcher")["QueueUrl"]
    sent = aws_run(inlet, moto, "backfill", "--product", "cyi_exports", "--from", "2024-01-01", "--to", "2024-01-31", "--launcher-queue-url", queue)
    assert "backfill-cyi_exports-2024-01-01-2024-01-31" in sent.stdout
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert json.loads(message["Body"]) == {
        "product": "cyi_exports", "start_date": "2024-01-01", "end_date": "2024-01-31", "correlation_id": "backfill-cyi_exports-2024-01-01-2024-01-31"
    }  # fmt: skip

    dynamodb.create_table(
        TableName="runs",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("Correlation_Id", "DataProduct")],
        KeySchema=[{"AttributeName": "Correlation_Id", "KeyType": "HASH"}, {"AttributeName": "DataProduct", "KeyType": "RANGE"}],
    )
    cluster = emr.run_job_flow(
        Name="inlet-cyi-exports m-1 run 1", ReleaseLabel="emr-7.5.0", JobFlowRole="p", ServiceRole="s",
        Instances={"InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m6g.xlarge", "InstanceCount": 1}], "KeepJobFlowAliveWhenNoSteps": True},
        Tags=[{"Key": "Correlation_Id", "Value": "m-1"}, {"Key": "DataProduct", "Value": "cyi_exports"}],
    )["JobFlowId"]  # fmt: skip
    request = {"product": "cyi_exports", "correlation_id": "m-1", "export_date": "2024-01-15", "s3_bucket": "input", "s3_prefix": "cyi_exports/2024-01-15/"}
    dynamodb.put_item(
        TableName="runs",
        Item={
            "Correlation_Id": {"S": "m-1"}, "DataProduct": {"S": "cyi_exports"}, "Date": {"S": "2024-01-15"}, "Run_Id": {"N": "1"},
            "Status": {"S": "IN_PROGRESS"}, "CurrentStep": {"N": "1"}, "Steps": {"L": [{"S": "load-days"}, {"S": "publish-days"}]},
            "Cluster_Id": {"S": cluster}, "Owner": {"S": cluster}, "Lease_Until": {"N": "9999999999"}, "Request": {"S": json.dumps(request)},
            "Updated_At": {"N": "1705300000"}, "TimeToExist": {"N": "1705904800"}, "Version": {"N": "3"},
        },
    )  # fmt: skip
    table = ["--run-state-table", "runs"]
    listed = json.loads(aws_run(inlet, moto, "runs", "list", "--json", *table).stdout)
    assert [(r["correlation_id"], r["status"], r["current_step"], r["cluster_id"]) for r in listed] == [("m-1", "IN_PROGRESS", 1, cluster)]
    assert "2/2 publish-days" in aws_run(inlet, moto, "runs", "list", *table).stdout

    stopped = aws_run(inlet, moto, "emr", "stop", "--product", "cyi_exports", *table).stdout
    assert "1 clusters terminated, 1 runs cancelled" in stopped, stopped
    assert emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"].startswith("TERMINAT")
    assert json.loads(aws_run(inlet, moto, "runs", "list", "--json", "--status", "CANCELLED", *table).stdout)[0]["correlation_id"] == "m-1"

    assert "cleared m-1/cyi_exports" in aws_run(inlet, moto, "runs", "clear", "--correlation-id", "m-1", "--product", "cyi_exports", *table).stdout
    assert "Item" not in dynamodb.get_item(TableName="runs", Key={"Correlation_Id": {"S": "m-1"}, "DataProduct": {"S": "cyi_exports"}})
    missing = aws_run(inlet, moto, "runs", "list", check=False)
    assert missing.returncode == 2 and "--run-state-table" in missing.stderr


def test_a_profile_whose_keys_come_from_a_credential_process_signs_the_calls(inlet, moto, tmp_path, monkeypatch):
    """Credentials as people have them: `--profile` names a profile of the
    shared config file whose keys a credential_process prints, as `aws sso`
    helpers and vaults do. The process runs, and the calls it signs work."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    calls = tmp_path / "credential-process-calls"
    helper = tmp_path / "credentials.py"
    helper.write_text(
        "import json, pathlib\n"
        f"with pathlib.Path({str(calls)!r}).open('a') as log: log.write('called\\n')\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAFROMPROCESS', 'SecretAccessKey': 'from-the-process'}))\n"
    )
    config = tmp_path / "aws-config"
    config.write_text(f"[profile loader]\nregion = us-east-1\ncredential_process = {sys.executable} {helper}\n")
    env = {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials")}

    listed = inlet.run("--endpoint", moto, "--profile", "loader", "ingest", REPO / "data" / "asx_eod_20201201.csv", env=env)
    assert "0 failed" in listed.stdout, listed.stdout
    assert calls.read_text().count("called") >= 1, "the profile's credential_process gave the keys"
    tables = inlet.run("--endpoint", moto, "tables", env={**env, "AWS_PROFILE": "loader"}).stdout
    assert "asx_eod" in tables, "AWS_PROFILE does the same"


def test_an_unknown_stack_is_named_with_what_to_check(inlet, moto):
    refused = aws_run(inlet, moto, "--stack", "no-such-stack", "tables", check=False)
    assert refused.returncode == 2, refused
    assert '"no-such-stack"' in refused.stderr and "describe-stacks --stack-name no-such-stack" in refused.stderr, refused.stderr


def test_redrive_dlq_moves_dead_letters_back_to_their_queue(inlet, moto):
    sqs = client("sqs", moto)
    dlq = sqs.create_queue(QueueName="runner-dead-letters")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(
        QueueName="runner",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
    )["QueueUrl"]
    bodies = {f'{{"poison": {n}}}' for n in range(3)}
    for body in bodies:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)

    out = aws_run(inlet, moto, "redrive", "--dlq", dlq).stdout
    assert "3 messages moved back to" in out and source.rsplit("/", 1)[1] in out, out
    moved = []
    for _ in range(5):
        batch = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10).get("Messages", [])
        moved += [m["Body"] for m in batch]
        if len(moved) >= 3:
            break
    assert set(moved) == bodies and len(moved) == 3, moved
    assert not sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages"), "the DLQ still holds messages"
