"""The bad-input corpus (tests/corpus/): its cases, and what a run made of
each, observed the same way whichever backend ran it.

A case is a folder under tests/corpus/cases/ with an `expect.yaml` and either
an `input/` folder holding the one file to drop (its path below `input/` is
its key below `in/`) or a `generate:` naming a function of
tests/corpus/generate.py that returns the key and the bytes. `expect.yaml`
says why the case exists and what must become of it:

    why: one line
    outcome: loaded | failed | expanded   # of the dropped object itself
    stage: convert                        # where a failed input failed
    error: text the reason contains
    rows: 2                               # rows written, members included
    rejected: {shape: 1}                  # rejected rows per check
    reject_lines: [3]                     # the source lines rejected
    members: {loaded: 1, failed: 1}       # the outcomes of an archive's members
    partitions: [year=2020/month=12]      # partitions written
    shortened: true                       # done/ or failed/ holds it under a shortened name
    sql: SELECT count(*) FROM rows WHERE ...   # DuckDB over the table's Parquet
    sql_result: 1
    pipelines: corpus                     # needs tests/corpus/pipelines as well
"""
import importlib.util
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = CORPUS / "cases"
EXTRA_PIPELINES = CORPUS / "pipelines"


def _generators():
    spec = importlib.util.spec_from_file_location("corpus_generate", CORPUS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Case:
    name: str
    expect: dict
    key: str
    body: bytes

    @property
    def needs_corpus_pipelines(self):
        return self.expect.get("pipelines") == "corpus"

    def __str__(self):
        return self.name


def load_cases():
    generators = _generators()
    cases = []
    for folder in sorted(p for p in CASES.iterdir() if p.is_dir()):
        expect = yaml.safe_load((folder / "expect.yaml").read_text())
        if "generate" in expect:
            key, body = getattr(generators, expect["generate"])()
        else:
            (path,) = [p for p in (folder / "input").rglob("*") if p.is_file()]
            key, body = str(path.relative_to(folder / "input")), path.read_bytes()
        cases.append(Case(folder.name, expect, key, body))
    return cases


@dataclass
class Observed:
    """What became of one case's input: the outcome line of the dropped
    object, every outcome line (its members' too), and the rejects."""

    outcome: dict
    outcomes: list
    rejected: Counter = field(default_factory=Counter)
    reject_lines: list = field(default_factory=list)


def mismatches(case, seen):
    """The ways `seen` differs from the case's expectations; empty when none."""
    expect, top, problems = case.expect, seen.outcome, []

    def differ(what, wanted, got):
        if wanted != got:
            problems.append(f"{what}: expected {wanted!r}, got {got!r}")

    differ("outcome", expect["outcome"], top["outcome"])
    if "stage" in expect:
        differ("stage", expect["stage"], top.get("stage"))
    if "error" in expect and expect["error"].lower() not in top.get("error", "").lower():
        problems.append(f"error: expected it to contain {expect['error']!r}, got {top.get('error')!r}")
    differ("rows", expect.get("rows", 0), sum(o.get("rows_out", 0) for o in seen.outcomes))
    differ("rejected", expect.get("rejected", {}), dict(seen.rejected))
    if "reject_lines" in expect:
        differ("reject_lines", expect["reject_lines"], sorted(seen.reject_lines))
    if "members" in expect:
        members = Counter(o["outcome"] for o in seen.outcomes if o is not top)
        differ("members", expect["members"], dict(members))
    if "partitions" in expect:
        differ("partitions", sorted(expect["partitions"]), sorted({p for o in seen.outcomes for p in o.get("partitions", [])}))
    if expect.get("shortened"):
        moved = top.get("done_key") or top.get("failed_key")
        if not moved or case.key in moved or len(moved.encode()) > 300:
            problems.append(f"expected a shortened done/ or failed/ key, got {moved!r}")
    return problems
