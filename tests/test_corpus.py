"""The bad-input corpus (tests/corpus/) through `inlet ingest`: every case
ends as its expect.yaml says, and the invariants hold for all of them: no
panic, nothing written outside the state directory, every input (and every
archive member) in exactly one of done/ and failed/, and every failed one
with its error document."""
import json
import os
import shutil
from collections import Counter

import duckdb
import pytest

from conftest import REPO
from corpus_cases import EXTRA_PIPELINES, Observed, load_cases, mismatches

CASES = load_cases()


def test_the_corpus_is_broad():
    assert len(CASES) >= 40, len(CASES)
    for case in CASES:
        assert case.expect.get("why"), f"{case}: say why the case exists"
    keys = [case.key for case in CASES]
    assert len(set(keys)) == len(keys), "each case has its own key, so the whole corpus can be dropped at once"


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    """The repository's pipelines and the corpus's own, in one folder."""
    folder = tmp_path_factory.mktemp("pipelines")
    for source in (REPO / "pipelines", EXTRA_PIPELINES):
        for pipeline in source.iterdir():
            if pipeline.is_dir():
                (folder / pipeline.name).symlink_to(pipeline)
    return folder


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def observe_local(inlet, case, result):
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    source = f"s3://input/in/{case.key}"
    (top,) = [o for o in lines if o["source"] == source]
    seen = Observed(top, lines)
    for rejects in (inlet.buckets / "output").glob("*_rejects"):
        for check, line in duckdb.execute(f"SELECT check_name, line FROM read_parquet('{rejects}/**/*.parquet')").fetchall():
            seen.rejected[check] += 1
            seen.reject_lines.append(line)
    return seen


def assert_every_input_accounted_for(inlet, seen):
    inputs = inlet.keys("input")
    assert not [k for k in inputs if k.startswith("in/")], f"left in in/: {inputs}"
    for outcome in seen.outcomes:
        moved = outcome.get("done_key") or outcome.get("failed_key")
        assert moved in inputs, f"{outcome['source']} is not where its outcome says: {moved} not in {inputs}"
        if outcome["outcome"] == "failed":
            document = json.loads((inlet.buckets / "input" / f"{moved}.error.json").read_text())
            assert document["source"] == outcome["source"], "the error document holds the original key"
    moved = [k for k in inputs if (k.startswith("done/") or k.startswith("failed/")) and not k.endswith(".error.json")]
    assert len(moved) == len(seen.outcomes), f"inputs {moved} against outcomes {[o['source'] for o in seen.outcomes]}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_corpus_case_through_inlet_ingest(inlet, case, pipelines, tmp_path):
    drop = tmp_path / "drop"
    (drop / case.key).parent.mkdir(parents=True, exist_ok=True)
    (drop / case.key).write_bytes(case.body)
    before = set(os.listdir(tmp_path))

    result = inlet.run("--pipelines", pipelines, "ingest", "--json", drop, check=False)

    assert result.returncode == (1 if case.expect["outcome"] == "failed" or "failed" in case.expect.get("members", {}) else 0), result.stderr
    assert set(os.listdir(tmp_path)) == before | {"state"}, "nothing is written beside the state directory"
    assert files_under(drop) == [case.key], "the dropped file is left as it was"
    seen = observe_local(inlet, case, result)
    assert mismatches(case, seen) == [], f"{case}: {case.expect['why']}\n{json.dumps(seen.outcomes, indent=1)[:3000]}"
    assert_every_input_accounted_for(inlet, seen)
    if "sql" in case.expect:
        tables = {o["table"] for o in seen.outcomes if "table" in o}
        (table,) = tables
        con = duckdb.connect()
        con.execute(f"CREATE VIEW rows AS SELECT * FROM read_parquet('{inlet.buckets}/output/{table}/**/*.parquet', hive_partitioning=true)")
        assert con.execute(case.expect["sql"]).fetchone()[0] == case.expect["sql_result"], con.execute("SELECT * FROM rows").fetchall()
    shutil.rmtree(inlet.state_dir)
