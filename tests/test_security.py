"""Security properties shown over the real artefacts: the synthesized
templates grant named resources only, hold no secret, and a pipeline trigger
cannot be made to backtrack."""
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO

TEMPLATES = sorted((REPO / "cloudformation").glob("*.cfn.yaml"))

# The statements whose resource may be `*`, by their actions, and why.
# Anything else with `*` needs a Condition that narrows it.
STAR_ALLOWED = {
    frozenset({"elasticmapreduce:RunJobFlow", "elasticmapreduce:ListClusters"}):
        "RunJobFlow and ListClusters support no resource-level permissions: a cluster has no ARN before it exists "
        "(Service Authorization Reference, Amazon EMR, 'Resource types' column empty for both)",
}  # fmt: skip

# The roles that may be granted a service's every action, and why; their
# resources are still the stack's own, by name prefix.
WILDCARD_ACTIONS_ALLOWED = {
    "DeployRole": "CloudFormation assumes it to create, update and delete every resource of the app stacks, "
    "whose kinds of action change with each resource type; it is confined to resources named ${NamePrefix}-* "
    "(infra/src/stacks/pipeline.rs)",
}


class CloudFormationLoader(yaml.SafeLoader):
    """Reads the short intrinsic forms (`!Sub`, `!GetAtt`) as their long ones."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        return {name: value.split(".") if suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def statements(template):
    """(resource name, statement) for every policy statement in the template."""
    found = []

    def walk(node, owner):
        if isinstance(node, dict):
            if isinstance(node.get("Statement"), list):
                found.extend((owner, s) for s in node["Statement"])
            for value in node.values():
                walk(value, owner)
        elif isinstance(node, list):
            for value in node:
                walk(value, owner)

    for name, resource in template.get("Resources", {}).items():
        walk(resource, name)
    return found


def load(path):
    return yaml.load(path.read_text(), Loader=CloudFormationLoader)


def as_list(value):
    return value if isinstance(value, list) else [value]


def arn_text(resource):
    """The ARN a resource entry spells, with substitutions left as ${…}."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None  # Ref / GetAtt: a resource of the stack, specific by construction


def test_the_templates_are_there():
    assert {p.name for p in TEMPLATES} >= {"lambda.cfn.yaml", "pipeline.cfn.yaml"}


def iam_problems(template):
    """Each statement that grants more than named resources, said why."""
    problems = []
    for owner, statement in statements(template):
        if statement.get("Effect") != "Allow" or "Principal" in statement:
            continue  # a deny, or a resource policy (a bucket's, a topic's) naming who may act
        actions = as_list(statement.get("Action", []))
        where = f"{owner}: {actions}"
        if "NotResource" in statement or "NotAction" in statement:
            problems.append(f"{where}: NotResource/NotAction grant everything else")
        if any(a == "*" for a in actions) or (any(a.endswith(":*") for a in actions) and owner not in WILDCARD_ACTIONS_ALLOWED):
            problems.append(f"{where}: a wildcard action")
        for resource in as_list(statement.get("Resource", [])):
            text = arn_text(resource)
            if text == "*":
                if "Condition" not in statement and frozenset(actions) not in STAR_ALLOWED:
                    problems.append(f"{where}: Resource '*' without a Condition or a recorded reason")
                continue
            if text is None:
                continue
            # `${AWS::Region}` holds colons of its own.
            fields = re.sub(r"\$\{[^}]*\}", lambda m: m.group(0).replace(":", "_"), text).split(":", 5)
            if len(fields) < 6 or fields[0] != "arn":
                problems.append(f"{where}: {text!r} is not an ARN")
                continue
            _, _, service, region, account, rest = fields
            if "*" in (service, region, account) or rest in ("*", ""):
                problems.append(f"{where}: {text!r} leaves the service, region, account or resource open")
            by_prefix = owner in WILDCARD_ACTIONS_ALLOWED and rest.startswith("${NamePrefix}-")
            if service == "s3" and not by_prefix and not re.match(r"^\$\{[A-Za-z]+\}[^/*]*(/|$)", rest):
                problems.append(f"{where}: {text!r} does not name one of the stack's buckets")
    return problems


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_iam_statement_names_its_resources(path):
    assert iam_problems(load(path)) == []


def test_an_open_statement_is_caught():
    role = {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": {"Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["sqs:*"], "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sqs:*:${AWS::AccountId}:q"}},
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::*"},
        {"Effect": "Allow", "Action": ["glue:GetTable"], "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceAccount": "1"}}},
    ]}}]}}  # fmt: skip
    problems = iam_problems({"Resources": {"Role": role}})
    expected = ["'*' without", "wildcard action", "leaves the service", "leaves the service", "buckets"]
    assert len(problems) == len(expected) and all(e in p for e, p in zip(expected, problems)), problems


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_no_secret_sits_in_a_template(path):
    text = path.read_text()
    patterns = {
        "an access key id": r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
        "a secret access key": r"(?i)secret.{0,20}[:=]\s*['\"]?[A-Za-z0-9/+]{40}\b",
        "a private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        "a GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36}\b",
    }
    found = {name: re.findall(p, text) for name, p in patterns.items()}
    assert {k: v for k, v in found.items() if v} == {}
    for name, parameter in load(path).get("Parameters", {}).items():
        if re.search(r"(?i)password|secret|api_?key|(?<!service)token", name):
            assert parameter.get("NoEcho") is True and "Default" not in parameter, f"{name} must be NoEcho with no default"


def test_a_trigger_that_would_backtrack_catastrophically_matches_in_linear_time(inlet, tmp_path):
    """`(a+)+$` takes exponential time in a backtracking engine on a run of
    a's that fails at its end; the regex crate runs it in linear time, so
    routing a 100,000-byte key of that shape returns at once."""
    folder = tmp_path / "pipelines" / "evil"
    folder.mkdir(parents=True)
    (folder / "pipeline.yaml").write_text(
        "name: evil\n"
        "triggers: ['^in/(a+)+$', '^in/(a|aa)+\\.csv$']\n"
        "table: evil\n"
        "reader: { format: csv, header: true }\n"
        "time: { column: t, format: '%Y-%m-%d', timezone: UTC }\n"
        "partition_by: [year]\n"
    )
    key = "a" * 100_000 + "!.csv"
    result = subprocess.run(
        [str(inlet.binary), "--pipelines", str(folder.parent), "explain", key],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "INLET_STATE_DIR": str(inlet.state_dir)},
    )  # fmt: skip
    assert "no pipeline" in (result.stdout + result.stderr).lower(), result.stdout[-500:] + result.stderr[-500:]
