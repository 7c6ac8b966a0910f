#!/usr/bin/env python3
"""Coverage-guided fuzzing with cargo-fuzz: libFuzzer under the address
sanitizer, on nightly Rust, each target seeded with the real samples.

Targets (crates/inlet-core/fuzz and crates/inlet-lambda/fuzz):
  expand_zip, expand_tar_gz, expand_gz   the archive expander
  pipeline_yaml                          pipeline YAML loading
  decode_event                           the Lambda event decoder
  read_csv, read_grid, read_json_lines,  the format readers; these link Arrow
  read_xml                               and Parquet, so they build longest

A target passes when libFuzzer ends its time without a finding. A finding
(a panic, a sanitizer report, a file written outside the work folder)
leaves its input under crates/*/fuzz/artifacts/<target>/ and fails the run;
each one becomes a case of tests/corpus once it is fixed.

The suite (tests/run) runs every target for a few seconds; a longer
campaign, or one target:

  .venv/bin/python tests/fuzz.py --seconds 300
  .venv/bin/python tests/fuzz.py read_csv --seconds 600

prints executions and time per target. Installs cargo-fuzz on first use.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CARGO_FUZZ_VERSION = "0.13.2"
CORE_FUZZ = REPO / "crates/inlet-core/fuzz"
LAMBDA_FUZZ = REPO / "crates/inlet-lambda/fuzz"
SEEDS = CORE_FUZZ / "target/seeds"


def data(*patterns):
    return lambda: [p for pattern in patterns for p in sorted(REPO.glob(pattern))]


def gzipped_csv():
    seed = SEEDS / "made/readings.csv.gz"
    seed.parent.mkdir(parents=True, exist_ok=True)
    seed.write_bytes(gzip.compress((REPO / "data/asx_eod_20201201.csv").read_bytes(), mtime=0))
    return [seed]


def ted_notices():
    out = SEEDS / "made/ted"
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(REPO / "data/ted/20240102_001.tar.gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.endswith(".xml"):
                (out / Path(member.name).name).write_bytes(archive.extractfile(member).read())
    return sorted(out.iterdir())


def events():
    """The direct S3 sample, and the same notification in each envelope the
    decoder unwraps: SQS, SNS inside SQS, and EventBridge."""
    direct = json.loads((REPO / "tests/events/s3-put-buoy.json").read_text())
    sqs = {"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": json.dumps(direct)}]}
    sns = {"Type": "Notification", "Message": json.dumps(direct)}
    sqs_sns = {"Records": [{"messageId": "m-2", "eventSource": "aws:sqs", "body": json.dumps(sns)}]}
    bridge = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "input"}, "object": {"key": "in/a b+c%2F.csv"}},
    }
    test_event = {"Records": [{"messageId": "m-3", "eventSource": "aws:sqs", "body": json.dumps({"Event": "s3:TestEvent"})}]}
    out = SEEDS / "made/events"
    out.mkdir(parents=True, exist_ok=True)
    seeds = []
    for name, event in [("direct", direct), ("sqs", sqs), ("sqs_sns", sqs_sns), ("eventbridge", bridge), ("test", test_event)]:
        path = out / f"{name}.json"
        path.write_text(json.dumps(event))
        seeds.append(path)
    return seeds


# target → (fuzz crate, needs the readers feature, its seed files)
TARGETS = {
    "expand_zip": (CORE_FUZZ, False, data("data/*.zip")),
    "expand_tar_gz": (CORE_FUZZ, False, data("data/*.tar.gz", "data/ted/*.tar.gz")),
    "expand_gz": (CORE_FUZZ, False, gzipped_csv),
    "pipeline_yaml": (CORE_FUZZ, False, data("pipelines/*/pipeline.yaml")),
    "decode_event": (LAMBDA_FUZZ, False, events),
    "read_csv": (CORE_FUZZ, True, data("data/asx_eod_*.csv")),
    "read_grid": (CORE_FUZZ, True, data("data/solar_*.txt")),
    "read_json_lines": (CORE_FUZZ, True, data("data/cyi/**/*.jsonl")),
    "read_xml": (CORE_FUZZ, True, ted_notices),
}


def ensure_nightly():
    toolchains = subprocess.run(["rustup", "toolchain", "list"], capture_output=True, text=True).stdout
    if "nightly" not in toolchains:
        sys.exit("cargo fuzz needs the nightly toolchain (libFuzzer's instrumentation and -Zsanitizer), "
                 "and rustup lists none: install it with `rustup toolchain install nightly`")


def ensure_cargo_fuzz():
    installed = subprocess.run(["cargo", "fuzz", "--version"], capture_output=True, text=True)
    if installed.returncode == 0 and CARGO_FUZZ_VERSION in installed.stdout:
        return
    print(f"== installing cargo-fuzz {CARGO_FUZZ_VERSION}", flush=True)
    subprocess.run(["cargo", "install", "--locked", "--quiet", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION], check=True)


def cargo_fuzz(crate, readers, *args):
    features = ["--features", "readers"] if readers else []
    return ["cargo", "+nightly", "fuzz", *args[:1], "--fuzz-dir", str(crate), *features, *args[1:]]


def seed_dir(name, files):
    folder = SEEDS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index, file in enumerate(files):
        shutil.copyfile(file, folder / f"{index:03}-{file.name}")
    return folder


def fuzz(name, seconds):
    crate, readers, seeds = TARGETS[name]
    files = seeds()
    assert files, f"{name}: no seed files found"
    corpus = crate / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    command = cargo_fuzz(crate, readers, "run", name, str(corpus), str(seed_dir(name, files)), "--",
                         f"-max_total_time={seconds}", "-max_len=65536", "-rss_limit_mb=2048", "-print_final_stats=1")
    started = time.monotonic()
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    log = run.stdout + run.stderr
    executions = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    return run.returncode, int(executions.group(1)) if executions else None, elapsed, log


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help=f"targets to run (default: all of {', '.join(TARGETS)})")
    parser.add_argument("--seconds", type=int, default=10, help="fuzzing time per target (default 10)")
    args = parser.parse_args()
    names = args.targets or list(TARGETS)
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; the targets are {', '.join(TARGETS)}")

    ensure_nightly()
    ensure_cargo_fuzz()
    for crate in sorted({TARGETS[name][0] for name in names}):
        for readers in sorted({TARGETS[name][1] for name in names if TARGETS[name][0] == crate}):
            built = [name for name in names if TARGETS[name][:2] == (crate, readers)]
            print(f"== building {', '.join(built)}", flush=True)
            started = time.monotonic()
            for name in built:
                subprocess.run(cargo_fuzz(crate, readers, "build", name), cwd=REPO, check=True)
            print(f"   built in {time.monotonic() - started:.0f} s", flush=True)

    findings = []
    print(f"{'target':<18} {'executions':>12} {'seconds':>8} {'exec/s':>8}  result")
    for name in names:
        code, executions, elapsed, log = fuzz(name, args.seconds)
        rate = f"{executions / elapsed:,.0f}" if executions else "-"
        result = "no finding" if code == 0 else f"FINDING (exit {code})"
        print(f"{name:<18} {executions or 0:>12,} {elapsed:>8.1f} {rate:>8}  {result}", flush=True)
        if code != 0:
            findings.append((name, log))
    for name, log in findings:
        print(f"\n== {name}\n{log[-6000:]}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    os.environ.setdefault("CARGO_TERM_COLOR", "never")
    sys.exit(main())
