"""Each Lambda function links what it calls and no more.

A function's release build is its own Cargo build (`cargo lambda build
--release -p <function>`), so its dependency graph is the one `cargo tree -p
<function>` shows, with only that function's features. These tests read that
graph: unzip has no pipeline, reader or Parquet writer; no function has an
AWS client it does not call. `cargo clippy -p <function>` in tests/run checks
that each of those graphs compiles.
"""

import subprocess

import pytest

from conftest import REPO

AWS_CLIENTS = {
    "aws-sdk-s3",
    "aws-sdk-glue",
    "aws-sdk-sqs",
    "aws-sdk-sns",
    "aws-sdk-athena",
    "aws-sdk-dynamodb",
    "aws-sdk-emr",
    "aws-sdk-emrserverless",
    "aws-sdk-cloudformation",
}
# The engine: readers, checks, the Parquet writer and its codecs, pipelines.
ENGINE = {"csv-core", "arrow-ord", "arrow-arith", "arrow-cast", "schemars", "snap", "zstd"}
# What pipelines and the XML reader bring; the sources' configuration and
# listings need them too, so only unzip and the partitioner go without.
CONFIGURATION = {"chrono-tz", "quick-xml", "serde_yaml_ng"}
QUERY = {"datafusion", "sqlparser"}

# function → (AWS clients it calls, crates it must not link besides the other clients)
FUNCTIONS = {
    "unzip": ({"aws-sdk-s3"}, ENGINE | CONFIGURATION | QUERY | {"parquet", "arrow-array", "inlet-sources", "inlet-emr"}),
    "pipeline-runner": ({"aws-sdk-s3", "aws-sdk-sqs"}, QUERY | {"inlet-sources", "inlet-emr"}),
    "partitioner": ({"aws-sdk-s3", "aws-sdk-glue"}, ENGINE | CONFIGURATION | QUERY | {"inlet-sources", "inlet-emr"}),
    "harvester": ({"aws-sdk-sqs"}, ENGINE | QUERY | {"parquet", "inlet-emr"}),
    "downloader": ({"aws-sdk-s3", "aws-sdk-dynamodb", "aws-sdk-sns"}, ENGINE | QUERY | {"parquet", "inlet-emr"}),
    "emr-launcher": ({"aws-sdk-emr", "aws-sdk-emrserverless", "aws-sdk-dynamodb", "aws-sdk-sns"}, ENGINE | QUERY | {"parquet"}),
    "create-folders": ({"aws-sdk-s3"}, ENGINE | QUERY | {"parquet", "inlet-emr"}),
    "clean-test-files": ({"aws-sdk-s3"}, ENGINE | QUERY | {"parquet", "inlet-emr"}),
}


def linked_crates(package: str) -> set[str]:
    """The crates a package's own build links (normal dependencies only)."""
    tree = subprocess.run(
        ["cargo", "tree", "--locked", "-p", package, "-e", "normal", "--prefix", "none", "-f", "{p}"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line.split()[0] for line in tree.splitlines() if line.strip()}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_links_only_the_clients_and_engine_parts_it_calls(function):
    clients, forbidden = FUNCTIONS[function]
    linked = linked_crates(function)

    assert "inlet-lambda" in linked, f"{function} is built on inlet-lambda"
    assert linked & AWS_CLIENTS == clients, f"{function} links the AWS clients {sorted(linked & AWS_CLIENTS)}, not {sorted(clients)}"
    assert not linked & forbidden, f"{function} links {sorted(linked & forbidden)}"


def test_the_runner_links_the_engine_the_others_leave_out():
    assert {"parquet", "csv-core", "quick-xml", "chrono-tz", "snap"} <= linked_crates("pipeline-runner")
