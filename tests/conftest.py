"""Shared fixtures: the inlet binary, a fresh state directory per test, and
helpers that read inlet's output with engines other than inlet's own."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
BIN = Path(os.environ.get("INLET_BIN", TARGET_DIR / "debug" / "inlet"))


@pytest.fixture(scope="session")
def inlet_bin():
    if not BIN.is_file():
        pytest.fail(f"{BIN} is missing; build it with `cargo build -p inlet-cli` (tests/run does)")
    return BIN


class Inlet:
    """Runs the CLI against one state directory."""

    def __init__(self, binary, state_dir, cwd):
        self.binary = binary
        self.state_dir = state_dir
        self.cwd = cwd

    def run(self, *args, check=True, env=None):
        return self._run([str(self.binary), *map(str, args)], args, check, env)

    def run_measured(self, *args, check=True):
        """Runs inlet as the only child of a fresh interpreter and returns
        (result, peak resident memory in MiB) of that one run."""
        result = self._run([sys.executable, str(Path(__file__).parent / "peak_rss.py"), str(self.binary), *map(str, args)], args, check, None)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("peak_rss_kib="), result.stderr
        return result, int(last.split("=")[1]) / 1024

    def _run(self, command, args, check, env):
        full_env = {**os.environ, "INLET_STATE_DIR": str(self.state_dir), **(env or {})}
        full_env.pop("INLET_PIPELINES", None)
        result = subprocess.run(command, cwd=self.cwd, env=full_env, capture_output=True, text=True, timeout=300)
        assert "panicked" not in result.stderr, result.stderr
        if check and result.returncode != 0:
            raise AssertionError(f"inlet {' '.join(map(str, args))} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def query(self, sql):
        out = self.run("query", sql, "--format", "json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    @property
    def buckets(self):
        return self.state_dir / "buckets"

    def keys(self, bucket, prefix=""):
        root = self.buckets / bucket
        if not root.exists():
            return []
        return sorted(
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and not str(p.relative_to(root)).startswith(".inlet-staging") and str(p.relative_to(root)).startswith(prefix)
        )


@pytest.fixture
def inlet(inlet_bin, tmp_path):
    # The CLI runs from the repository so it uses ./pipelines, as a user would.
    return Inlet(inlet_bin, tmp_path / "state", REPO)


@pytest.fixture
def ref_data():
    path = os.environ.get("INLET_REF_DATA")
    if not path:
        pytest.skip("INLET_REF_DATA is not set; tests/run sets it when ../shared/ref-data exists")
    return Path(path)
