"""Local stand-ins for AWS that the end-to-end tests share: moto's server on
a free loopback port, boto3 clients for it, and cargo-lambda's Runtime API
emulator running inlet's functions against it."""
import contextlib
import json
import os
import socket
import subprocess
import time

import boto3

from conftest import REPO

VENV_BIN = REPO / ".venv" / "bin"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds, process):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port} within {seconds} s")


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


@contextlib.contextmanager
def moto_server(log_dir):
    """moto's server on a free 127.0.0.1 port; yields its endpoint URL."""
    port = free_port()
    log = open(log_dir / "moto.log", "w")
    server = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port, 30, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def moto_with_buckets(log_dir):
    """moto's server with the input and output buckets and the catalog's
    database that the CLI's defaults name; yields its endpoint URL."""
    with moto_server(log_dir) as endpoint:
        for bucket in ("input", "output"):
            client("s3", endpoint).create_bucket(Bucket=bucket)
        client("glue", endpoint).create_database(DatabaseInput={"Name": "inlet"})
        yield endpoint


@contextlib.contextmanager
def lambda_emulator(endpoint, environment, log_dir, concurrency=1):
    """`cargo lambda watch` on a loopback port, every function's environment
    pointing at moto's `endpoint`, up to `concurrency` instances of each
    function at once. Yields what `invoke` needs."""
    port = free_port()
    log_path = log_dir / "watch.log"
    # A generous timeout: the deadline the emulator hands a function starts
    # counting before the function is compiled on its first invocation.
    args = [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", str(port), "--timeout", "900", "--concurrency", str(concurrency)]
    for key, value in {**environment, "AWS_ENDPOINT_URL": endpoint, **CREDENTIALS}.items():
        args += ["--env-var", f"{key}={value}"]
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    log = open(log_path, "w")
    watch = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, 60, watch)
        yield {"port": port, "log": log_path, "env": env}
    finally:
        os.killpg(watch.pid, 15)
        watch.wait(timeout=20)


def invoke(emulator, function, payload, tmp_path):
    event = tmp_path / f"{function}-event.json"
    event.write_text(json.dumps(payload))
    result = subprocess.run(
        [str(VENV_BIN / "cargo-lambda"), "lambda", "invoke", function, "-A", "127.0.0.1", "-P", str(emulator["port"]), "--data-file", str(event)],
        cwd=REPO,
        env=emulator["env"],
        capture_output=True,
        text=True,
        timeout=900,  # the first invocation of a function compiles it
    )
    assert result.returncode == 0, f"{function}: {result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def sqs_event(messages):
    return {
        "Records": [
            {
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"], "attributes": {},
                "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def take(sqs, url):
    messages = []
    for _ in range(20):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            break
        messages += batch
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages
