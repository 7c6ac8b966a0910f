"""The cold-start benchmark keeps working: one run of each function, Rust and
Python, on the workspace's debug binaries under cargo-lambda's Runtime API.
The figures of a debug build mean nothing; the benchmark's checks do: each
function's answer is the expansion or the load it should be."""

import re
import subprocess
import sys

from conftest import REPO


def test_the_cold_start_benchmark_runs_both_functions_in_both_languages():
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "bench_cold_start.py"), "--debug-build", "--runs", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = re.findall(r"^(unzip|pipeline-runner)\s+(inlet \(Rust\)|Python \(boto3 \+ pyarrow\))\s+cold\s+(\d+) ms", result.stdout, re.M)
    assert sorted((function, language) for function, language, _ in rows) == [
        ("pipeline-runner", "Python (boto3 + pyarrow)"),
        ("pipeline-runner", "inlet (Rust)"),
        ("unzip", "Python (boto3 + pyarrow)"),
        ("unzip", "inlet (Rust)"),
    ], result.stdout
    assert all(int(ms) > 0 for _, _, ms in rows)
    assert "inlet's cold start" in result.stdout
