"""The bad-input corpus (tests/corpus/) through the Lambda functions: every
case is uploaded to moto's S3, and the S3 → SQS notifications moto sends are
fed to pipeline-runner and unzip under cargo-lambda's emulator until the
queues are empty. Each case must end as its expect.yaml says, as it does
through `inlet ingest`. The functions carry the pipelines built into them, so
the cases that need the corpus's own pipelines run through the CLI only."""
import json
from collections import Counter

import duckdb

from aws_local import invoke, sqs_event, take
from corpus_cases import Observed, load_cases, mismatches
from test_lambda_emulator import aws, emulator, moto  # noqa: F401  (module fixtures)

CASES = [case for case in load_cases() if not case.needs_corpus_pipelines]


def drive_until_quiet(aws, emulator, tmp_path):
    """Feeds every queued notification to its function, ten at a time, until
    no function has work left; returns every result the functions gave."""
    results = []
    for _ in range(20):
        work = [(name, take(aws["sqs"], aws["queues"][queue])) for name, queue in (("pipeline-runner", "runner"), ("unzip", "unzip"))]
        work = [(name, [m for m in messages if "s3:TestEvent" not in m["Body"]]) for name, messages in work]
        if not any(messages for _, messages in work):
            return results
        for function, messages in work:
            for start in range(0, len(messages), 10):
                answer = invoke(emulator, function, sqs_event(messages[start : start + 10]), tmp_path)
                assert answer["batchItemFailures"] == [], f"{function}: {answer}"
                results += answer["results"]
    raise AssertionError("the functions kept producing work")


def with_members(outcome, by_source):
    """The outcome, then its members' (an expanded archive names them), and theirs."""
    members = [by_source[f"s3://input/{key}"][0] for key in outcome.get("members", [])]
    return [outcome, *(o for member in members for o in with_members(member, by_source))]


def rejects_of(s3, outcomes, tmp_path):
    rejected, lines = Counter(), []
    for n, key in enumerate(k for o in outcomes for k in o.get("rejects_files", [])):
        local = tmp_path / f"rejects-{n}.parquet"
        local.write_bytes(s3.get_object(Bucket="output", Key=key)["Body"].read())
        for check, line in duckdb.execute(f"SELECT check_name, line FROM read_parquet('{local}')").fetchall():
            rejected[check] += 1
            lines.append(line)
    return rejected, lines


def test_the_corpus_through_the_functions_on_moto(aws, emulator, tmp_path):  # noqa: F811
    s3 = aws["s3"]
    for case in CASES:
        s3.put_object(Bucket="input", Key=f"in/{case.key}", Body=case.body)

    results = drive_until_quiet(aws, emulator, tmp_path)

    by_source = {}
    for result in results:
        if result["outcome"] != "forwarded":
            by_source.setdefault(result["source"], []).append(result)
    assert all(len(r) == 1 for r in by_source.values()), {s: r for s, r in by_source.items() if len(r) > 1}
    problems = {}
    for case in CASES:
        source = f"s3://input/in/{case.key}"
        top = by_source[source][0]
        outcomes = with_members(top, by_source)
        rejected, lines = rejects_of(s3, outcomes, tmp_path)
        found = mismatches(case, Observed(top, outcomes, rejected, lines))
        if found:
            problems[case.name] = found
    assert problems == {}

    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="input") for o in page.get("Contents", [])]
    assert [k for k in keys if k.startswith("in/")] == [], "every input left in/"
    moved = {k for k in keys if not k.endswith(".error.json")}
    for outcomes in by_source.values():
        outcome = outcomes[0]
        place = outcome.get("done_key") or outcome.get("failed_key")
        assert place in moved, f"{outcome['source']}: {place}"
        if outcome["outcome"] == "failed":
            document = json.loads(s3.get_object(Bucket="input", Key=f"{place}.error.json")["Body"].read())
            assert document["source"] == outcome["source"]
    assert len(moved) == len(by_source), "no input is in two places, and none is missing"
