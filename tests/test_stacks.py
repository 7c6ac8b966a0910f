"""The synthesized CloudFormation: linted by cfn-lint, checked by checkov, and
created on moto's CloudFormation, where a file then flows through the buckets
and queues the stack made, handled by the functions under cargo-lambda's
Runtime API emulator. The custom resources answer moto's CloudFormation
themselves: the stack only completes because create-folders answered."""
import contextlib
import http.server
import io
import json
import os
import re
import subprocess
import threading
import time
import zipfile

import pytest
import yaml

from aws_local import CREDENTIALS, VENV_BIN, client, invoke, lambda_emulator, moto_server, sqs_event, take
from conftest import REPO
from http_source import File, SourceServer

TEMPLATES = sorted((REPO / "cloudformation").glob("*.cfn.yaml"))
FUNCTIONS = ["unzip", "pipeline-runner", "partitioner", "harvester", "downloader", "emr-launcher", "create-folders", "clean-test-files"]
# What moto's CloudFormation passes over with a warning (see the README).
# The alarms are checked from the template instead (infra/tests/alarms.rs).
MOTO_SKIPS_APP = {
    "AWS::Athena::WorkGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::Glue::Database",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
}


def test_there_are_three_templates():
    assert [t.name for t in TEMPLATES] == ["clean-test-files.cfn.yaml", "lambda.cfn.yaml", "pipeline.cfn.yaml"]


def test_cfn_lint_reports_nothing():
    result = subprocess.run([str(VENV_BIN / "cfn-lint"), *map(str, TEMPLATES)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes_and_every_skip_has_a_reason():
    result = subprocess.run(
        [str(VENV_BIN / "checkov"), "-d", str(REPO / "cloudformation"), "--framework", "cloudformation", "--skip-download", "--compact", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env={"BC_SKIP_MAPPING": "TRUE", "PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(REPO / ".venv")},
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert re.search(r"Failed checks: 0,", result.stdout), result.stdout[-2000:]
    skips = 0
    for template in TEMPLATES:
        for name, resource in yaml.safe_load(template.read_text())["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip.get("comment", "")) > 20, f"{template.name} {name} skips {skip['id']} without a reason"
                skips += 1
    assert skips > 0


def test_every_function_crate_is_deployed():
    template = yaml.safe_load((REPO / "cloudformation" / "lambda.cfn.yaml").read_text())
    keys = sorted(
        r["Properties"]["Code"]["S3Key"]["Fn::Sub"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    )
    assert keys == sorted(f"${{CodePrefix}}{f}.zip" for f in FUNCTIONS)
    for function in FUNCTIONS:
        assert (REPO / "crates" / function / "src" / "main.rs").is_file()
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resource["Properties"]["Architectures"] == ["arm64"] and resource["Properties"]["Runtime"] == "provided.al2023"


def test_queues_outlast_their_functions_six_times():
    resources = yaml.safe_load((REPO / "cloudformation" / "lambda.cfn.yaml").read_text())["Resources"]
    mappings = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == 5
    for mapping in mappings:
        queue = resources[mapping["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        function = resources[mapping["FunctionName"]["Ref"]]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
        assert "deadLetterTargetArn" in queue["RedrivePolicy"]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("moto")
    with moto_server(log_dir) as endpoint:
        yield {"endpoint": endpoint, "log": log_dir / "moto.log"}


def wait_for_stack(cfn, name, done, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            stacks = cfn.describe_stacks(StackName=name)["Stacks"]
        except cfn.exceptions.ClientError as e:
            # A deleted stack is no longer found by name.
            if "DELETE_COMPLETE" in done and "does not exist" in str(e):
                return None
            raise
        if stacks and stacks[0]["StackStatus"] in done:
            return stacks[0]
        time.sleep(0.5)
    raise AssertionError(f"{name} is {stacks[0]['StackStatus']}, not {done}, after {seconds} s")


def conditions_for(template, parameters):
    """Each of the template's conditions, for these parameters (its defaults
    filling the rest): only `Fn::Equals` over a `Ref`, and `Fn::Not`."""
    values = {name: p.get("Default") for name, p in template.get("Parameters", {}).items()} | parameters

    def evaluate(expression):
        if "Fn::Not" in expression:
            return not evaluate(expression["Fn::Not"][0])
        left, right = (values[side["Ref"]] if isinstance(side, dict) else side for side in expression["Fn::Equals"])
        return left == right

    return {name: evaluate(expression) for name, expression in template.get("Conditions", {}).items()}


def skipped_types(log):
    return set(re.findall(r"No Moto CloudFormation support for (\S+)", log.read_text()))


def custom_resource_request(kind, endpoint, stack, logical_id, resource_type, properties, response_url=None):
    """The request CloudFormation sends a custom resource; moto's own
    invocation needs Docker, so the test delivers it through the emulator."""
    return {
        "RequestType": kind,
        "ServiceToken": properties["ServiceToken"],
        "ResponseURL": response_url or f"{endpoint}/cloudformation_us-east-1/cfnresponse?stack={stack['StackId']}",
        "StackId": stack["StackId"],
        "RequestId": f"{logical_id}-{kind}",
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "ResourceProperties": properties,
        **({"PhysicalResourceId": f"clean-test-files:{','.join(properties['Buckets'])}"} if kind == "Delete" else {}),
    }


def apply_bucket_settings_moto_ignores(template, resources, s3, sqs):
    """moto's CloudFormation creates an AWS::S3::Bucket with its name and
    encryption only. Apply the template's own notifications and versioning
    through the S3 API, translated from CloudFormation's shape to the API's."""
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::S3::Bucket":
            continue
        bucket = resources[name]["PhysicalResourceId"]
        properties = resource["Properties"]
        if properties.get("VersioningConfiguration"):
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=properties["VersioningConfiguration"])
        configurations = []
        for notification in properties.get("NotificationConfiguration", {}).get("QueueConfigurations", []):
            queue_url = resources[notification["Queue"]["Fn::GetAtt"][0]]["PhysicalResourceId"]
            arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            rules = notification["Filter"]["S3Key"]["Rules"]
            configurations.append({"QueueArn": arn, "Events": [notification["Event"]], "Filter": {"Key": {"FilterRules": rules}}})
        if configurations:
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configurations})


class Answers(http.server.BaseHTTPRequestHandler):
    """A loopback ResponseURL for requests moto no longer tracks."""

    received = []

    def do_PUT(self):
        Answers.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


LOOPBACK_SOURCES = """sources:
  - id: asx_eod
    url: "{url}"
    type: direct
    schedule: cron(0 8 ? * TUE-SAT *)
    timezone: Australia/Sydney
    target: asx/
    allow_private_addresses: true
"""


def test_the_app_stack_on_moto_carries_a_file_through(moto, tmp_path, inlet):
    with contextlib.ExitStack() as stack_exit:
        carry_files_through_the_app_stack(moto, tmp_path, stack_exit, inlet)


CODE_BUCKET = "inlet-pipeline-code"


def upload_function_code(s3):
    """Function zips where the build would upload them; moto never runs them."""
    s3.create_bucket(Bucket=CODE_BUCKET)
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    for function in FUNCTIONS:
        s3.put_object(Bucket=CODE_BUCKET, Key=f"lambda/abc123/{function}.zip", Body=package.getvalue())


def create_app_stack(moto, stack_name, database):
    """The app stack as the pipeline deploys it: the test configuration, and
    the names the pipeline derives from its NamePrefix. Then what moto skips
    is done by hand: the Glue database, bucket notifications and versioning;
    its event source mappings are disabled, the test being the event source."""
    endpoint = moto["endpoint"]
    s3, sqs, glue, cfn = (client(s, endpoint) for s in ("s3", "sqs", "glue", "cloudformation"))
    configuration = json.loads((REPO / "config" / "test-lambda-stack-configuration.json").read_text())
    parameters = {
        **configuration["Parameters"],
        "NamePrefix": stack_name,
        "GlueDatabaseName": database,
        "CodeBucket": CODE_BUCKET,
        "CodePrefix": "lambda/abc123/",
    }
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=(REPO / "cloudformation" / "lambda.cfn.yaml").read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Tags=[{"Key": k, "Value": v} for k, v in configuration["Tags"].items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = wait_for_stack(cfn, stack_name, {"CREATE_IN_PROGRESS", "CREATE_COMPLETE"})
    assert skipped_types(moto["log"]) == MOTO_SKIPS_APP
    resources = {r["LogicalResourceId"]: r for r in cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]}
    template = yaml.safe_load((REPO / "cloudformation" / "lambda.cfn.yaml").read_text())
    holds = conditions_for(template, parameters)
    expected = {
        name
        for name, r in template["Resources"].items()
        if r["Type"] not in MOTO_SKIPS_APP and holds.get(r.get("Condition"), True)
    }
    assert expected <= set(resources), expected - set(resources)

    glue.create_database(DatabaseInput={"Name": database})  # AWS::Glue::Database is one of moto's skips
    apply_bucket_settings_moto_ignores(template, resources, s3, sqs)
    awslambda = client("lambda", endpoint)
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            awslambda.update_event_source_mapping(UUID=resources[name]["PhysicalResourceId"], Enabled=False)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    return {"stack": stack, "outputs": outputs, "resources": resources, "template": template, "database": database}


def function_environment(deployed):
    """Every function's environment as the template gives it, references resolved."""
    environment = {}
    for resource in deployed["template"]["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            for name, value in resource["Properties"].get("Environment", {}).get("Variables", {}).items():
                if name == "GLUE_DATABASE":
                    environment[name] = deployed["database"]
                elif "Ref" in value and value["Ref"] in deployed["resources"]:  # not a parameter's
                    environment[name] = deployed["resources"][value["Ref"]]["PhysicalResourceId"]
    return environment


def answer_create_folders(moto, deployed, emulator, tmp_path):
    """Delivers the create-folders request moto's CloudFormation is waiting
    for, as CloudFormation would, and waits for the stack to complete."""
    endpoint, stack, outputs = moto["endpoint"], deployed["stack"], deployed["outputs"]
    cfn = client("cloudformation", endpoint)
    assert cfn.describe_stacks(StackName=stack["StackName"])["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
    properties = {
        "ServiceToken": outputs.get("CreateFoldersFunctionArn", "create-folders"),
        "Bucket": outputs["InputBucketName"],
        "Folders": deployed["template"]["Resources"]["InputFolders"]["Properties"]["Folders"],
    }
    request = custom_resource_request("Create", endpoint, stack, "InputFolders", "Custom::Folders", properties)
    answer = invoke(emulator, "create-folders", request, tmp_path)
    assert answer["Status"] == "SUCCESS", answer.get("Reason", answer)
    wait_for_stack(cfn, stack["StackName"], {"CREATE_COMPLETE"})


def deliver(sqs, emulator, function, queue_url, tmp_path):
    """Hands what the queue holds to the function, as its event source mapping would."""
    messages = [m for m in take(sqs, queue_url) if "s3:TestEvent" not in m["Body"]]
    assert messages, f"no message reached {queue_url}"
    answer = invoke(emulator, function, sqs_event(messages), tmp_path)
    assert answer["batchItemFailures"] == [], answer
    return answer


def test_two_deployments_live_side_by_side_in_one_account(moto, tmp_path):
    """Two app stacks with different prefixes, as two pipelines with their
    own NamePrefix make them: each file lands in its own stack's buckets,
    tables and partitions, and nothing crosses over."""
    endpoint = moto["endpoint"]
    s3, sqs, glue = (client(s, endpoint) for s in ("s3", "sqs", "glue"))
    if CODE_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        upload_function_code(s3)
    sample = (REPO / "data" / "asx_eod_20201201.csv").read_bytes()
    deployments = {prefix: create_app_stack(moto, f"{prefix}-test", f"{prefix}_test") for prefix in ("alpha", "beta")}
    for prefix, deployed in deployments.items():
        log_dir = tmp_path / prefix
        log_dir.mkdir()
        with lambda_emulator(endpoint, function_environment(deployed), log_dir) as emulator:
            answer_create_folders(moto, deployed, emulator, log_dir)
            s3.put_object(Bucket=deployed["outputs"]["InputBucketName"], Key="in/asx/asx_eod_20201201.csv", Body=sample)
            runner_queue = deployed["resources"]["PipelineRunnerQueue"]["PhysicalResourceId"]
            loaded = deliver(sqs, emulator, "pipeline-runner", runner_queue, log_dir)["results"]
            # create-folders' own in/ marker comes first, and is ignored.
            assert [(r["outcome"], r.get("rows_out")) for r in loaded] == [("ignored", None), ("loaded", 150)], loaded
            deliver(sqs, emulator, "partitioner", deployed["resources"]["PartitionerQueue"]["PhysicalResourceId"], log_dir)

    for prefix, deployed in deployments.items():
        output_bucket = deployed["outputs"]["OutputBucketName"]
        assert output_bucket.startswith(f"{prefix}-test-output-"), output_bucket
        tables = glue.get_tables(DatabaseName=f"{prefix}_test")["TableList"]
        assert [t["Name"] for t in tables] == ["asx_eod"]
        assert tables[0]["StorageDescriptor"]["Location"].startswith(f"s3://{output_bucket}/")
        assert [p["Values"] for p in glue.get_partitions(DatabaseName=f"{prefix}_test", TableName="asx_eod")["Partitions"]] == [["2020", "12"]]
        written = [o["Key"] for o in s3.list_objects_v2(Bucket=output_bucket)["Contents"]]
        assert written and all(k.startswith("asx_eod/") or not k.endswith(".parquet") for k in written), written
        done = [o["Key"] for o in s3.list_objects_v2(Bucket=deployed["outputs"]["InputBucketName"], Prefix="done/asx/")["Contents"]]
        assert done == ["done/asx/asx_eod_20201201.csv"]


class Functions:
    """The stack's event source mappings, played by the test: hands each
    queue's messages to its function under the emulator, and counts the
    runner's loads and unzip's expansions per input."""

    def __init__(self, sqs, emulator, deployed, tmp_path):
        self.sqs, self.emulator, self.tmp_path = sqs, emulator, tmp_path
        queue = lambda name: deployed["resources"][name]["PhysicalResourceId"]
        self.routes = [("pipeline-runner", queue("PipelineRunnerQueue")), ("unzip", queue("UnzipQueue")), ("partitioner", queue("PartitionerQueue"))]
        self.runs = {}

    def pump_once(self):
        """One pass over the queues; whether any message was handed on."""
        handed = False
        for function, url in self.routes:
            messages = [m for m in take(self.sqs, url) if "s3:TestEvent" not in m["Body"]]
            if not messages:
                continue
            handed = True
            answer = invoke(self.emulator, function, sqs_event(messages), self.tmp_path)
            assert answer["batchItemFailures"] == [], answer
            for result in answer.get("results", []):
                if result.get("outcome") in ("loaded", "expanded"):
                    source = result["source"].split("/", 3)[3]
                    self.runs[source] = self.runs.get(source, 0) + 1
        return handed

    def serve_while(self, process, seconds):
        deadline = time.time() + seconds
        while process.poll() is None and time.time() < deadline:
            if not self.pump_once():
                time.sleep(0.3)
        while self.pump_once():  # what the last loads sent the partitioner
            pass


def parquet_rows(s3, bucket, prefix):
    import pyarrow.parquet as pq

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []) if o["Key"].endswith(".parquet")]
    return sum(pq.ParquetFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())).metadata.num_rows for k in keys)


def test_ingest_wait_leaves_each_file_to_the_stack_once_and_here_goes_around_it(moto, tmp_path, inlet):
    """`ingest --wait` uploads to in/ and follows the functions to the end:
    each file is processed once, by the stack, and the summary is the local
    one. `--here` processes in the CLI through direct/, which triggers
    nothing, and the same file dropped later through in/ adds no rows."""
    endpoint = moto["endpoint"]
    s3, sqs, glue = (client(s, endpoint) for s in ("s3", "sqs", "glue"))
    if CODE_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        upload_function_code(s3)
    deployed = create_app_stack(moto, "gamma-test", "gamma_test")
    input_bucket, output_bucket = deployed["outputs"]["InputBucketName"], deployed["outputs"]["OutputBucketName"]
    asx, buoy = REPO / "data" / "asx_eod_20201201.csv", REPO / "data" / "buoy.z05.00.20210115.000000.zip"
    command = [str(inlet.binary), "--endpoint", endpoint, "--stack", "gamma-test", "--database", "gamma_test", "ingest"]
    env = {**os.environ, **CREDENTIALS, "INLET_STATE_DIR": str(inlet.state_dir)}
    with lambda_emulator(endpoint, function_environment(deployed), tmp_path) as emulator:
        answer_create_folders(moto, deployed, emulator, tmp_path)
        functions = Functions(sqs, emulator, deployed, tmp_path)
        waiting = subprocess.Popen([*command, "--wait", "--timeout", "600", asx, buoy], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        functions.serve_while(waiting, 900)
        out, err = waiting.communicate(timeout=30)
        assert waiting.returncode == 0, f"{out}\n{err}"
        members = [k for k in functions.runs if k.startswith("in/buoy.z05.00.20210115.000000/")]
        assert len(members) == 4 and functions.runs == {"in/asx_eod_20201201.csv": 1, "in/buoy.z05.00.20210115.000000.zip": 1, **{m: 1 for m in members}}, functions.runs
        assert "asx_eod_20201201.csv: asx_eod → asx_eod: 150 rows written, 0 rejected, 1 partition: year=2020/month=12" in out, out
        assert "buoy.z05.00.20210115.000000.zip: archive, 4 members" in out, out
        assert "6 inputs: 5 loaded, 0 failed" in out, out
        assert [p["Values"] for p in glue.get_partitions(DatabaseName="gamma_test", TableName="asx_eod")["Partitions"]] == [["2020", "12"]]

        here = subprocess.run([*command, "--here", asx], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert here.returncode == 0 and "150 rows written" in here.stdout, here.stdout + here.stderr
        runs_before = dict(functions.runs)
        while functions.pump_once():
            pass
        assert functions.runs == runs_before, "nothing reached the stack's runner"
        assert not s3.list_objects_v2(Bucket=input_bucket, Prefix="direct/").get("Contents")
        assert parquet_rows(s3, output_bucket, "asx_eod/") == 150

        s3.upload_file(str(asx), input_bucket, "in/asx_eod_20201201.csv")
        while functions.pump_once():
            pass
        assert functions.runs["in/asx_eod_20201201.csv"] == 2
        assert parquet_rows(s3, output_bucket, "asx_eod/") == 150, "the file loaded here and through in/ is one source"


def carry_files_through_the_app_stack(moto, tmp_path, stack_exit, inlet):
    endpoint = moto["endpoint"]
    s3, sqs, glue, cfn = (client(s, endpoint) for s in ("s3", "sqs", "glue", "cloudformation"))
    upload_function_code(s3)
    deployed = create_app_stack(moto, "inlet-test", "inlet_test")
    stack, outputs, resources, template = deployed["stack"], deployed["outputs"], deployed["resources"], deployed["template"]
    input_bucket, output_bucket = outputs["InputBucketName"], outputs["OutputBucketName"]
    database = deployed["database"]
    environment = function_environment(deployed)
    assert set(environment) == {
        "INPUT_BUCKET", "OUTPUT_BUCKET", "GLUE_DATABASE", "UNZIP_QUEUE_URL", "DOWNLOAD_QUEUE_URL", "SOURCE_STATE_TABLE", "ALERTS_TOPIC_ARN",
        "RUN_STATE_TABLE", "EMR_SERVICE_ROLE", "EMR_INSTANCE_PROFILE"
    }, environment
    # The harvester reads a sources file pointing at a loopback server instead of its built-in one.
    source_server = stack_exit.enter_context(SourceServer())
    source_server.serve("/asx/eod/asx_eod_20201201.csv", File((REPO / "data" / "asx_eod_20201201.csv").read_bytes(), etag='"v1"'))
    sources = tmp_path / "sources.yaml"
    sources.write_text(LOOPBACK_SOURCES.format(url=source_server.url("/asx/eod/asx_eod_{yesterday}.csv")))
    environment["INLET_SOURCES"] = str(sources)
    with lambda_emulator(endpoint, environment, tmp_path) as emulator:
        # The stack waits for create-folders to answer, as CloudFormation does.
        answer_create_folders(moto, deployed, emulator, tmp_path)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=input_bucket)["Contents"]] == ["done/", "failed/", "in/"]

        # A buoy archive through the notifications and queues the stack made.
        queues = {name: resources[name]["PhysicalResourceId"] for name in ("UnzipQueue", "PipelineRunnerQueue", "PartitionerQueue")}
        with open(REPO / "data" / "buoy.z05.00.20210115.000000.zip", "rb") as f:
            s3.put_object(Bucket=input_bucket, Key="in/buoy.z05.00.20210115.000000.zip", Body=f.read())

        def deliver_from(function, queue):
            return deliver(sqs, emulator, function, queues[queue], tmp_path)

        # create-folders' own marker in/ reached the entry point too, and is ignored.
        forwarded = deliver_from("pipeline-runner", "PipelineRunnerQueue")["results"]
        assert [r["outcome"] for r in forwarded] == ["ignored", "forwarded"], forwarded
        members = deliver_from("unzip", "UnzipQueue")["results"][0]["members"]
        runner = deliver_from("pipeline-runner", "PipelineRunnerQueue")["results"]
        loaded = [r for r in runner if r["outcome"] == "loaded"]
        assert len(runner) == len(members), [(r["outcome"], r.get("source")) for r in runner]
        assert len(loaded) == len(members) and all(r["rows_out"] == 144 for r in loaded), loaded
        deliver_from("partitioner", "PartitionerQueue")
        tables = glue.get_tables(DatabaseName=database)["TableList"]
        assert sorted(t["Name"] for t in tables) == sorted(r["table"] for r in loaded)
        for table in tables:
            assert table["StorageDescriptor"]["Location"].startswith(f"s3://{output_bucket}/")
            partitions = glue.get_partitions(DatabaseName=database, TableName=table["Name"])["Partitions"]
            assert [p["Values"] for p in partitions] == [["humboldt", "2021", "01"]]
        left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=input_bucket)["Contents"])
        assert left == sorted(["done/", "done/buoy.z05.00.20210115.000000.zip", "failed/", "in/"] + [m.replace("in/", "done/", 1) for m in members])

        # Remote sources: a scheduled run's harvest → the FIFO queue → the
        # downloader → in/, where the notification takes it to asx_eod.
        run = {"schedule": "cron(0 8 ? * TUE-SAT *)", "time": "2020-12-02T08:00:00Z"}
        for _ in range(2):  # a retried run queues nothing new: FIFO drops the repeat
            harvested = invoke(emulator, "harvester", run, tmp_path)
            assert harvested["queued"] == 1 and harvested["urls"] == [source_server.url("/asx/eod/asx_eod_20201201.csv")], harvested
        downloads = take(sqs, resources["DownloadQueue"]["PhysicalResourceId"])
        assert len(downloads) == 1, downloads
        fetched = invoke(emulator, "downloader", sqs_event(downloads), tmp_path)
        assert fetched["batchItemFailures"] == [], fetched
        assert fetched["results"][0]["result"]["fetched"][0]["outcome"]["key"] == "in/asx/asx_eod_20201201.csv", fetched
        loaded = deliver_from("pipeline-runner", "PipelineRunnerQueue")["results"]
        assert [(r["outcome"], r["rows_out"]) for r in loaded] == [("loaded", 150)], loaded
        state = client("dynamodb", endpoint).scan(TableName=resources["SourceStateTable"]["PhysicalResourceId"])["Items"]
        assert [(i["source"]["S"], i["etag"]["S"], i["last_status"]["N"]) for i in state] == [("asx_eod", '"v1"', "200")], state
        # The next run finds the file unchanged: a 304, and nothing reaches in/.
        invoke(emulator, "harvester", {**run, "time": "2020-12-02T08:01:00Z"}, tmp_path)
        again = invoke(emulator, "downloader", sqs_event(take(sqs, resources["DownloadQueue"]["PhysicalResourceId"])), tmp_path)
        assert again["results"][0]["result"]["fetched"][0]["outcome"] == {"outcome": "not_modified"}, again
        assert not [o for o in s3.list_objects_v2(Bucket=input_bucket, Prefix="in/asx/").get("Contents", [])]
        assert not s3.list_objects_v2(Bucket=input_bucket, Prefix="staging/").get("Contents")

        # The CLI finds the deployment by its stack's outputs. moto drops the
        # outputs that refer to the Glue and Athena resources it skips, so the
        # database is given; the synthesized template has those outputs.
        by_stack = lambda *args: inlet.run("--endpoint", endpoint, "--stack", "inlet-test", "--database", database, *args, env=CREDENTIALS)
        listed = by_stack("tables").stdout
        wind = next(line.split() for line in listed.splitlines() if line.startswith("a2e_buoy_wind"))
        assert wind[1:3] == ["1", "1"], listed  # its partition and its file, in the stack's output bucket
        assert "no failed inputs" in by_stack("failed").stdout.lower()
        assert {"GlueDatabaseName", "WorkGroupName", "RunStateTableName", "EmrLauncherQueueUrl"} <= set(template["Outputs"])

        # The cleaner stack: created beside the test stack, answered by clean-test-files.
        buckets = [input_bucket, output_bucket, outputs["AthenaResultsBucketName"]]
        cleaner_parameters = {"ServiceToken": outputs["CleanTestFilesFunctionArn"], "Buckets": ",".join(buckets)}
        cfn.create_stack(
            StackName="inlet-test-cleaner",
            TemplateBody=(REPO / "cloudformation" / "clean-test-files.cfn.yaml").read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in cleaner_parameters.items()],
        )
        cleaner = wait_for_stack(cfn, "inlet-test-cleaner", {"CREATE_IN_PROGRESS"})
        properties = {"ServiceToken": outputs["CleanTestFilesFunctionArn"], "Buckets": buckets}
        answer = invoke(emulator, "clean-test-files", custom_resource_request("Create", endpoint, cleaner, "TestBucketsCleaner", "Custom::CleanTestFiles", properties), tmp_path)
        assert answer["Status"] == "SUCCESS", answer.get("Reason", answer)
        wait_for_stack(cfn, "inlet-test-cleaner", {"CREATE_COMPLETE"})
        assert s3.list_objects_v2(Bucket=output_bucket)["KeyCount"] > 0, "Create empties nothing"

        # Deleting it empties the buckets (moto does not send the Delete, so the test does).
        cfn.delete_stack(StackName="inlet-test-cleaner")
        server = http.server.HTTPServer(("127.0.0.1", 0), Answers)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/answer"
            answer = invoke(emulator, "clean-test-files", custom_resource_request("Delete", endpoint, cleaner, "TestBucketsCleaner", "Custom::CleanTestFiles", properties, url), tmp_path)
        finally:
            server.shutdown()
        assert answer["Status"] == "SUCCESS", answer.get("Reason", answer)
        assert Answers.received and Answers.received[-1]["Status"] == "SUCCESS"
        for bucket in buckets:
            versions = s3.list_object_versions(Bucket=bucket)
            assert not versions.get("Versions") and not versions.get("DeleteMarkers"), bucket

    # With its buckets empty, the test stack deletes cleanly.
    cfn.delete_stack(StackName="inlet-test")
    wait_for_stack(cfn, "inlet-test", {"DELETE_COMPLETE"})
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not existing & set(buckets), existing


def test_moto_validates_every_template(moto):
    cfn = client("cloudformation", moto["endpoint"])
    for template in TEMPLATES:
        validated = cfn.validate_template(TemplateBody=template.read_text())
        assert validated["Description"] == yaml.safe_load(template.read_text())["Description"], template.name


def test_the_pipeline_goes_test_stack_then_approval_then_prod():
    """moto cannot create the pipeline stack (it skips CodeBuild projects, so
    their Fn::GetAtt fails), so its shape is checked here, action by action."""
    resources = yaml.safe_load((REPO / "cloudformation" / "pipeline.cfn.yaml").read_text())["Resources"]
    pipeline = resources["Pipeline"]["Properties"]
    stages = {stage["Name"]: stage["Actions"] for stage in pipeline["Stages"]}
    assert list(stages) == ["Source", "Build", "TestStage", "ProdStage"]

    source = stages["Source"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert resources["RepositoryConnection"]["Type"] == "AWS::CodeStarConnections::Connection"
    assert "OAuthToken" not in json.dumps(resources)
    assert resources["BuildProject"]["Properties"]["Source"]["BuildSpec"] == "buildspec.yaml"

    def order(actions):
        return [(a["RunOrder"], a["Name"], a["Configuration"].get("ActionMode", a["ActionTypeId"]["Provider"])) for a in actions]

    assert order(stages["TestStage"]) == [
        (1, "DeployTestStack", "REPLACE_ON_FAILURE"),
        (2, "ArmTestCleaner", "CREATE_UPDATE"),
        (2, "SmokeTest", "CodeBuild"),
        (3, "ApproveProduction", "Manual"),
        (4, "CleanTestFiles", "DELETE_ONLY"),
        (5, "DeleteTestStack", "DELETE_ONLY"),
    ]
    deploy = stages["TestStage"][0]["Configuration"]
    assert deploy["TemplateConfiguration"] == "BuildOutput::config/test-lambda-stack-configuration.json"
    # The names come from the pipeline's NamePrefix, substituted into the overrides.
    test_overrides = json.loads(deploy["ParameterOverrides"]["Fn::Sub"])
    assert test_overrides["CodePrefix"] == {"Fn::GetParam": ["BuildOutput", "build/code.json", "CodePrefix"]}
    assert (test_overrides["NamePrefix"], test_overrides["GlueDatabaseName"]) == ("${NamePrefix}-test", "${NamePrefix}_test")
    assert deploy["StackName"] == {"Fn::Sub": "${NamePrefix}-test"}
    prod_overrides = json.loads(stages["ProdStage"][0]["Configuration"]["ParameterOverrides"]["Fn::Sub"])
    assert (prod_overrides["NamePrefix"], prod_overrides["GlueDatabaseName"]) == ("${NamePrefix}-prod", "${NamePrefix}")
    assert stages["TestStage"][3]["Configuration"]["NotificationArn"] == {"Ref": "ApprovalTopic"}
    assert order(stages["ProdStage"]) == [(1, "CreateChangeSet", "CHANGE_SET_REPLACE"), (2, "ExecuteChangeSet", "CHANGE_SET_EXECUTE")]
    assert stages["ProdStage"][0]["Configuration"]["TemplateConfiguration"] == "BuildOutput::config/prod-lambda-stack-configuration.json"
    for action in stages["TestStage"] + stages["ProdStage"]:
        if action["ActionTypeId"]["Provider"] == "CloudFormation":
            assert action["Configuration"]["RoleArn"] == {"Fn::GetAtt": ["DeployRole", "Arn"]}


def test_the_build_ships_every_function_and_every_template():
    buildspec = yaml.safe_load((REPO / "buildspec.yaml").read_text())
    template = yaml.safe_load((REPO / "cloudformation" / "pipeline.cfn.yaml").read_text())
    # Without an S3 cache on the project, CodeBuild ignores the buildspec's cache paths.
    assert buildspec["cache"]["paths"]
    cache = template["Resources"]["BuildProject"]["Properties"]["Cache"]
    assert cache == {"Type": "S3", "Location": {"Fn::Join": ["/", [{"Ref": "ArtifactBucket"}, "build-cache"]]}}, cache
    assert buildspec["env"]["variables"]["FUNCTIONS"].split() == FUNCTIONS
    commands = "\n".join(buildspec["phases"]["build"]["commands"])
    assert "tests/run" in commands and "synth --check" in commands and "--arm64" in commands
    assert set(buildspec["artifacts"]["files"]) == {"cloudformation/*.cfn.yaml", "config/*.json", "build/code.json"}
    assert (REPO / "tests" / "smoke" / "buildspec.yaml").is_file()
