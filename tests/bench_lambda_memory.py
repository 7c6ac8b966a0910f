#!/usr/bin/env python3
"""Benchmark: what the pipeline runner's work costs at each Lambda memory size.

Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB,
so 512 MiB buys 0.30 of one, 1,024 MiB 0.61 and 2,048 MiB 1.21. This script
runs the engine the runner runs (`inlet ingest`, release build, on a local
copy of the buckets) on an asx_eod CSV inside a Linux CPU cgroup whose quota
is that share of one core, and prints, per size: wall time, throughput, peak
memory, and the cost of converting one GB at Lambda's published x86_64 price.
S3's transfer time is not in it: it is the same at every size, and billed the
same per second.

Needs root (it makes cgroup v1 CPU groups under /sys/fs/cgroup/cpu).

  .venv/bin/python tests/bench_lambda_memory.py --inlet target/release/inlet --mib 256 --runs 3
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import REPO  # noqa: E402
from eod_data import write_eod  # noqa: E402

# Published Lambda prices, us-east-1, per GB-second of configured memory and
# per request (aws.amazon.com/lambda/pricing).
X86_PER_GB_SECOND = 0.0000166667
ARM_PER_GB_SECOND = 0.0000133334
PER_REQUEST = 0.20 / 1_000_000
# Memory at which a function has one full vCPU (Lambda's documentation).
MB_PER_VCPU = 1769
CGROUP_ROOT = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000


def vcpu_share(memory_mib):
    return memory_mib * 1.048576 / MB_PER_VCPU


class CpuGroup:
    """A cgroup v1 CPU group holding its members to `share` of one core."""

    def __init__(self, name, share):
        self.path = CGROUP_ROOT / name
        self.path.mkdir(exist_ok=True)
        (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (self.path / "cpu.cfs_quota_us").write_text(str(round(PERIOD_US * share)))

    def join(self):
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self):
        self.path.rmdir()


def run_inlet(inlet, source, state, group):
    """One ingest inside the group; (seconds, peak RSS MiB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(inlet), "--state-dir", str(state), "ingest", str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=group.join if group else None,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"inlet ingest failed ({status}): {process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inlet", type=Path, default=REPO / "target" / "release" / "inlet", help="a release build of the inlet CLI")
    parser.add_argument("--mib", type=int, default=256, help="size of the CSV (default 256 MiB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; the median is shown (default 3)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048], help="Lambda memory sizes, MiB")
    args = parser.parse_args()
    if not args.inlet.exists():
        parser.error(f"{args.inlet} is missing: cargo build --release -p inlet-cli")
    if not 1 <= args.runs <= 10 or not 1 <= args.mib <= 4096:
        parser.error("--runs is 1 to 10 and --mib 1 to 4096")
    if os.geteuid() != 0 or not CGROUP_ROOT.is_dir():
        parser.error(f"needs root and the cgroup v1 CPU controller at {CGROUP_ROOT}")

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        source = work / "asx_eod_bench.csv"
        write_eod(source, args.mib << 20)
        size_gb = source.stat().st_size / 1e9
        print(f"{source.stat().st_size / 1e6:,.0f} MB asx_eod CSV; {os.cpu_count()} cores; medians of {args.runs}", flush=True)
        print(f"{'memory':>8} {'vCPU':>5} {'seconds':>8} {'MB/s':>6} {'peak MiB':>9} {'GB-s per GB':>12} {'$ per GB x86':>13} {'$ per 1,000 GB':>15}")
        for memory in args.sizes:
            group = CpuGroup(f"inlet-lambda-{memory}", vcpu_share(memory))
            try:
                runs = []
                for run in range(args.runs):
                    state = work / f"state-{memory}-{run}"
                    runs.append(run_inlet(args.inlet, source, state, group))
                    shutil.rmtree(state)
            finally:
                group.remove()
            seconds = statistics.median(r[0] for r in runs)
            peak = max(r[1] for r in runs)
            gb_seconds_per_gb = memory / 1024 * seconds / size_gb
            dollars_per_gb = gb_seconds_per_gb * X86_PER_GB_SECOND + PER_REQUEST / size_gb
            print(f"{memory:>5} MiB {vcpu_share(memory):>5.2f} {seconds:>8.1f} {size_gb * 1000 / seconds:>6.1f} {peak:>9.0f} "
                  f"{gb_seconds_per_gb:>12.0f} {dollars_per_gb:>13.5f} {dollars_per_gb * 1000:>15.2f}", flush=True)  # fmt: skip
        print(f"x86_64 at ${X86_PER_GB_SECOND:.10f} per GB-s and ${PER_REQUEST * 1e6:.2f} per million requests; "
              f"arm64 is ${ARM_PER_GB_SECOND:.10f} per GB-s, {ARM_PER_GB_SECOND / X86_PER_GB_SECOND:.0%} of that, at its own speed (not measured here)")  # fmt: skip


if __name__ == "__main__":
    main()
