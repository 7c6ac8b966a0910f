"""Each Lambda binary under cargo-lambda's Runtime API emulator, fed the real
SQS messages moto produced, against moto's S3 and Glue."""
import gzip
import io
import json
import tarfile
import zipfile

import pytest

from conftest import REPO
from aws_local import client, invoke, lambda_emulator, moto_server, sqs_event, take


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def aws(moto):
    s3, sqs, glue = client("s3", moto), client("sqs", moto), client("glue", moto)
    for bucket in ("input", "output"):
        s3.create_bucket(Bucket=bucket)
    queues = {}
    for name in ("unzip", "runner", "partitioner"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[name] = (url, arn)

    def rule(arn, prefix, suffix):
        rules = [{"Name": name, "Value": value} for name, value in (("prefix", prefix), ("suffix", suffix)) if value]
        return {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": rules}}}

    # As the app stack wires it: everything under in/ reaches the pipeline
    # runner, which forwards archives to the unzip queue.
    s3.put_bucket_notification_configuration(
        Bucket="input",
        NotificationConfiguration={"QueueConfigurations": [rule(queues["runner"][1], "in/", "")]},
    )
    s3.put_bucket_notification_configuration(Bucket="output", NotificationConfiguration={"QueueConfigurations": [rule(queues["partitioner"][1], "", ".parquet")]})
    glue.create_database(DatabaseInput={"Name": "inlet"})
    # The EMR launcher's run-state table and alerts topic.
    client("dynamodb", moto).create_table(
        TableName="runs",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("Correlation_Id", "DataProduct")],
        KeySchema=[{"AttributeName": "Correlation_Id", "KeyType": "HASH"}, {"AttributeName": "DataProduct", "KeyType": "RANGE"}],
    )
    topic = client("sns", moto).create_topic(Name="alerts")["TopicArn"]
    return {"s3": s3, "sqs": sqs, "glue": glue, "queues": {k: v[0] for k, v in queues.items()}, "topic": topic}


@pytest.fixture(scope="module")
def emulator(moto, aws, tmp_path_factory):
    environment = {
        "INPUT_BUCKET": "input", "OUTPUT_BUCKET": "output", "GLUE_DATABASE": "inlet", "UNZIP_QUEUE_URL": aws["queues"]["unzip"],
        "RUN_STATE_TABLE": "runs", "ALERTS_TOPIC_ARN": aws["topic"], "EMR_SCRIPTS": "s3://code/lambda/abc/pipelines",
        "EMR_SERVICE_ROLE": "inlet-emr-service", "EMR_INSTANCE_PROFILE": "inlet-emr-instances", "EMR_LOG_URI": "s3://logs/emr-logs/",
    }  # fmt: skip
    with lambda_emulator(moto, environment, tmp_path_factory.mktemp("emulator")) as running:
        yield running


def buoy_zip():
    with open(REPO / "data" / "buoy.z05.00.20210115.000000.zip", "rb") as f:
        return f.read()


def test_unzip_runner_and_partitioner_under_the_runtime_api(aws, emulator, tmp_path):
    s3, sqs, queues = aws["s3"], aws["sqs"], aws["queues"]
    archive = buoy_zip()
    members = [n for n in zipfile.ZipFile(io.BytesIO(archive)).namelist() if n.endswith(".csv")]
    s3.put_object(Bucket="input", Key="in/buoy.z05.00.20210115.000000.zip", Body=archive)

    answer = invoke(emulator, "pipeline-runner", sqs_event(take(sqs, queues["runner"])), tmp_path)
    assert answer["batchItemFailures"] == []
    assert [r["outcome"] for r in answer["results"]] == ["forwarded"], answer

    answer = invoke(emulator, "unzip", sqs_event(take(sqs, queues["unzip"])), tmp_path)
    assert answer["batchItemFailures"] == []
    expanded = [r for r in answer["results"] if r["outcome"] == "expanded"]
    assert len(expanded) == 1 and len(expanded[0]["members"]) == len(members)

    runner_messages = [m for m in take(sqs, queues["runner"]) if "s3:TestEvent" not in m["Body"]]
    assert len(runner_messages) == len(members)
    answer = invoke(emulator, "pipeline-runner", sqs_event(runner_messages), tmp_path)
    assert answer["batchItemFailures"] == []
    loaded = [r for r in answer["results"] if r["outcome"] == "loaded"]
    assert sorted(r["table"] for r in loaded) == sorted(f"a2e_buoy_{m.split('.')[-2]}" for m in members)
    assert all(r["rows_out"] == 144 and r["rows_rejected"] == 0 for r in loaded)

    answer = invoke(emulator, "partitioner", sqs_event(take(sqs, queues["partitioner"])), tmp_path)
    assert answer["batchItemFailures"] == []
    tables = aws["glue"].get_tables(DatabaseName="inlet")["TableList"]
    assert sorted(t["Name"] for t in tables) == sorted(r["table"] for r in loaded)
    for table in tables:
        partitions = aws["glue"].get_partitions(DatabaseName="inlet", TableName=table["Name"])["Partitions"]
        assert [p["Values"] for p in partitions] == [["humboldt", "2021", "01"]]

    inputs = [o["Key"] for o in s3.list_objects_v2(Bucket="input")["Contents"]]
    assert all(k.startswith("done/") for k in inputs), inputs

    # The functions log JSON lines with the request id, the correlation id
    # that the members carry from their archive, and the row counts.
    lines = [json.loads(l) for l in emulator["log"].read_text().splitlines() if l.startswith("{")]
    spans = lambda line: {k: v for span in line.get("spans", []) for k, v in span.items()}
    loaded_logs = [l for l in lines if l.get("message") == "loaded"]
    assert len(loaded_logs) == len(members)
    expanded = [spans(l)["correlation_id"] for l in lines if l.get("message") == "expanded"]
    assert len(expanded) == 1 and {spans(l)["correlation_id"] for l in loaded_logs} == set(expanded), lines
    for line in loaded_logs:
        assert spans(line)["requestId"]
        assert line["bucket"] == "input" and line["key"].startswith("in/buoy.z05")
        assert line["pipeline"] == "a2e_buoy_ingest" and line["rows_in"] == line["rows_out"] == 144 and line["rows_rejected"] == 0
        assert "duration_ms" in line


def test_a_direct_s3_event_and_a_test_event(aws, emulator, tmp_path):
    s3 = aws["s3"]
    s3.put_object(Bucket="input", Key="in/asx_eod_direct one.csv", Body=b"AAA,20201201,1,2,0.5,1.5,100\n")
    take(aws["sqs"], aws["queues"]["runner"])
    direct = json.loads((REPO / "tests" / "events" / "s3-put-buoy.json").read_text())
    record = direct["Records"][0]
    record["s3"]["bucket"]["name"] = "input"
    record["s3"]["object"]["key"] = "in/asx_eod_direct+one.csv"
    answer = invoke(emulator, "pipeline-runner", direct, tmp_path)
    assert [r["outcome"] for r in answer["results"]] == ["loaded"]
    assert answer["results"][0]["done_key"] == "done/asx_eod_direct one.csv"

    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-01T00:00:00Z", "Bucket": "input"}
    answer = invoke(emulator, "unzip", {"Records": [{"messageId": "t", "body": json.dumps(test_event), "eventSource": "aws:sqs", "receiptHandle": "r", "attributes": {}, "messageAttributes": {}}]}, tmp_path)
    assert answer == {"batchItemFailures": [], "results": []}


def test_grids_and_json_lines_are_routed_loaded_and_registered(aws, emulator, tmp_path):
    s3, sqs, queues, glue = aws["s3"], aws["sqs"], aws["queues"], aws["glue"]
    grid = (REPO / "data" / "solar_ghi_20240115_03UT.txt").read_bytes()
    export = (REPO / "data" / "cyi" / "air_quality" / "2024-01-15" / "export.jsonl").read_bytes()
    s3.put_object(Bucket="input", Key="in/bom/solar_ghi_20240115_03UT.txt", Body=grid)
    s3.put_object(Bucket="input", Key="in/cyi/air_quality/2024-01-15/export.jsonl", Body=export)
    s3.put_object(Bucket="input", Key="in/cyi/air_quality/2024-01-16/export.json.gz", Body=gzip.compress(export, mtime=0))
    s3.put_object(Bucket="input", Key="in/cyi/air_quality/2024-01-17/export.json", Body=export)

    answer = invoke(emulator, "pipeline-runner", sqs_event(take(sqs, queues["runner"])), tmp_path)
    assert answer["batchItemFailures"] == []
    outcomes = sorted((r["outcome"], r.get("table")) for r in answer["results"])
    assert outcomes == [("forwarded", None), ("loaded", "bom_radiation"), ("loaded", "cyi_air_quality"), ("loaded", "cyi_air_quality")], answer
    answer = invoke(emulator, "unzip", sqs_event(take(sqs, queues["unzip"])), tmp_path)
    assert [r["outcome"] for r in answer["results"]] == ["expanded"], answer
    answer = invoke(emulator, "pipeline-runner", sqs_event([m for m in take(sqs, queues["runner"]) if "s3:TestEvent" not in m["Body"]]), tmp_path)
    assert [(r["outcome"], r["table"]) for r in answer["results"]] == [("loaded", "cyi_air_quality")], answer

    answer = invoke(emulator, "partitioner", sqs_event(take(sqs, queues["partitioner"])), tmp_path)
    assert answer["batchItemFailures"] == []
    partitions = lambda table: sorted(p["Values"] for p in glue.get_partitions(DatabaseName="inlet", TableName=table)["Partitions"])
    assert partitions("bom_radiation") == [["2024", "01", "15", "03"]]
    assert partitions("cyi_air_quality") == [["2024-01-15"], ["2024-01-16"], ["2024-01-17"]]
    table = glue.get_table(DatabaseName="inlet", Name="cyi_air_quality")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["export_date"]
    assert "export_date" not in [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    columns = {c["Name"]: c for c in glue.get_table(DatabaseName="inlet", Name="bom_radiation")["Table"]["StorageDescriptor"]["Columns"]}
    assert columns["local_time"]["Type"] == "timestamp" and columns["local_time"]["Parameters"]["inlet.wall_clock"] == "true"


def test_a_ted_package_is_read_whole_and_a_notice_alone_is_routed_as_xml(aws, emulator, tmp_path):
    s3, sqs, queues, glue = aws["s3"], aws["sqs"], aws["queues"], aws["glue"]
    package = (REPO / "data" / "ted" / "20240102_001.tar.gz").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(package)) as archive:
        notice = archive.extractfile("20240102_001/000002_2024.xml").read()
    s3.put_object(Bucket="input", Key="in/ted/20240102_001.tar.gz", Body=package)
    s3.put_object(Bucket="input", Key="in/ted/late/000002_2024.xml", Body=notice.replace(b"20240102", b"20250102"))

    # The package is the ted_notices pipeline's to read: the runner loads it
    # rather than forwarding it to unzip.
    answer = invoke(emulator, "pipeline-runner", sqs_event(take(sqs, queues["runner"])), tmp_path)
    assert answer["batchItemFailures"] == []
    loaded = sorted((r["outcome"], r["table"], r["rows_out"], r["done_key"]) for r in answer["results"])
    assert loaded == [
        ("loaded", "ted_notices", 1, "done/ted/late/000002_2024.xml"),
        ("loaded", "ted_notices", 4, "done/ted/20240102_001.tar.gz"),
    ], answer
    assert take(sqs, queues["unzip"]) == []

    answer = invoke(emulator, "partitioner", sqs_event(take(sqs, queues["partitioner"])), tmp_path)
    assert answer["batchItemFailures"] == []
    partitions = sorted(p["Values"] for p in glue.get_partitions(DatabaseName="inlet", TableName="ted_notices")["Partitions"])
    assert partitions == [["2024"], ["2025"]]
    table = glue.get_table(DatabaseName="inlet", Name="ted_notices")["Table"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns[0] == ("date", "date") and ("cpv_codes", "string") in columns and ("oj_number", "bigint") in columns


def test_the_emr_launcher_starts_one_cluster_for_a_direct_payload(moto, aws, emulator, tmp_path):
    payload = {"product": "cyi_exports", "start_date": "2024-01-01", "end_date": "2024-01-31", "correlation_id": "backfill-jan"}
    first = invoke(emulator, "emr-launcher", payload, tmp_path)
    assert first["outcome"] == "launched" and first["run_id"] == 1 and first["from_step"] == "load-days", first
    again = invoke(emulator, "emr-launcher", payload, tmp_path)
    assert again == {"outcome": "already_running", "owner": first["cluster_id"]}

    emr = client("emr", moto)
    [cluster] = emr.list_clusters()["Clusters"]
    described = emr.describe_cluster(ClusterId=cluster["Id"])["Cluster"]
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert (tags["Correlation_Id"], tags["DataProduct"]) == ("backfill-jan", "cyi_exports")
    assert described["ServiceRole"] == "inlet-emr-service" and described["LogUri"] == "s3://logs/emr-logs/"
    steps = emr.list_steps(ClusterId=cluster["Id"])["Steps"]
    args = steps[-1]["Config"]["Args"]
    assert "s3://code/lambda/abc/pipelines/cyi_exports/emr/load_days.py" in args
    assert args[-2:] == ["--start_date", "2024-01-01"] and "2024-01-31" in args

    row = client("dynamodb", moto).get_item(TableName="runs", Key={"Correlation_Id": {"S": "backfill-jan"}, "DataProduct": {"S": "cyi_exports"}})["Item"]
    assert (row["Status"]["S"], row["Run_Id"]["N"], row["Cluster_Id"]["S"]) == ("IN_PROGRESS", "1", cluster["Id"])
