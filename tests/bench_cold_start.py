#!/usr/bin/env python3
"""Benchmark: cold starts of the unzip and pipeline-runner functions, beside
the same work in Python (boto3 and pyarrow under awslambdaric).

Every function runs against moto's S3 on 127.0.0.1, and talks to cargo-lambda's
Runtime API emulator (`cargo lambda watch --only-lambda-apis`), as it would to
Lambda's. For each run, the event is queued first, then the function's process
is started, so:

  cold      process start → the first event's answer: init plus one event;
  init      process start → the function's first request for an event
            (Lambda's init phase: imports, clients, configuration);
  warm      a second event of the same work (a new upload under a key of
            its own) on the same process, from the invoke to its answer;
  peak RSS  the process's maximum resident memory over both events.

Events: unzip expands data/buoy.z05.00.20210115.000000.zip (6 members);
pipeline-runner loads data/asx_eod_20201201.csv (the asx_eod pipeline).

The Rust functions are the release bootstraps `cargo lambda build --release
-p <function>` leaves in <target-dir>/lambda/<function>/bootstrap (build them
first, one function at a time, or pass --build). Medians of --runs runs.

  .venv/bin/python tests/bench_cold_start.py --target-dir target --runs 5
"""

import argparse
import contextlib
import http.client
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aws_local import CREDENTIALS, VENV_BIN, client, free_port, moto_server, wait_for_port  # noqa: E402
from conftest import REPO  # noqa: E402

FUNCTIONS = {
    # function: (Python handler, input file, the key it is dropped under)
    "unzip": ("python_handlers.unzip", REPO / "data" / "buoy.z05.00.20210115.000000.zip", "in/buoy.z05.00.20210115.000000.zip"),
    "pipeline-runner": ("python_handlers.runner", REPO / "data" / "asx_eod_20201201.csv", "in/asx_eod_20201201.csv"),
}


# The functions' own output, for when one does not answer.
LOG = Path(tempfile.gettempdir()) / "inlet-bench-cold-start.log"


def s3_event(key):
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "input"}, "object": {"key": key}}}]}


@contextlib.contextmanager
def runtime_api(log_dir):
    """cargo-lambda's Runtime API, without a function of its own: each run
    starts its function's process itself."""
    port = free_port()
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    args = [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)]
    with open(log_dir / "watch.log", "w") as log:
        watch = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(port, 60, watch)
            yield port
        finally:
            os.killpg(watch.pid, 15)
            watch.wait(timeout=20)


class RuntimePrefix(http.server.BaseHTTPRequestHandler):
    """Forwards the Runtime API under cargo-lambda's `/.rt` prefix. awslambdaric
    takes the API as host:port only, and cannot reach a path under it; the
    Rust functions are sent through this too, so both pay the same hop."""

    upstream = None
    protocol_version = "HTTP/1.1"

    def forward(self):
        if self.path.endswith("/invocation/next") and self.server.ready_at is None:
            self.server.ready_at = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection(*self.upstream, timeout=900)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        connection.request(self.command, "/.rt" + self.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        # awslambdaric's runtime client needs the content type Lambda sends.
        if response.getheader("Content-Type") is None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        connection.close()

    def forward_or_drop(self):
        # A function process stopped between runs leaves its long poll for
        # the next event behind; its answer has nowhere to go.
        try:
            self.forward()
        except (ConnectionError, http.client.HTTPException):
            self.close_connection = True

    do_GET = do_POST = forward_or_drop

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # When the function first asked for an event: the end of its init.
    ready_at = None

    def handle_error(self, request, client_address):
        pass  # a stopped function's connection, as above


@contextlib.contextmanager
def without_prefix(port):
    """The Runtime API at `port` as a plain host:port; yields its server."""
    handler = type("Forward", (RuntimePrefix,), {"upstream": ("127.0.0.1", port)})
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()


class Invocation(threading.Thread):
    """One synchronous invoke, answered when a function process has handled it."""

    def __init__(self, port, payload):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"
        self.body = json.dumps(payload).encode()
        self.answer, self.answered_at = None, None

    def run(self):
        request = urllib.request.Request(self.url, data=self.body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            self.answer = json.loads(response.read())
        self.answered_at = time.perf_counter()


def invoke(port, payload):
    invocation = Invocation(port, payload)
    invocation.start()
    return invocation


def finish(invocation, process, what):
    invocation.join(timeout=300)
    if invocation.answered_at is None:
        state = "running" if process.poll() is None else f"exited with {process.returncode}"
        raise SystemExit(f"{what}: no answer within 300 s (the process is {state}; see {LOG})")
    return invocation.answer


def one_run(command, env, function, s3, log, scratch, run):
    """One cold and one warm event, on a Runtime API of their own: a process
    stopped at the end leaves a poll for the next event that would swallow
    the next run's."""
    with runtime_api(scratch) as port, without_prefix(port) as runtime:
        return events(port, command, {**env, **runtime_env(command, runtime.server_address[1])}, function, s3, log, run, runtime)


def runtime_env(command, runtime_port):
    # lambda_runtime takes a URL, awslambdaric a host:port.
    address = f"127.0.0.1:{runtime_port}"
    return {"AWS_LAMBDA_RUNTIME_API": address if "awslambdaric" in command else f"http://{address}"}


def events(port, command, env, function, s3, log, run, runtime):
    _, source, key = FUNCTIONS[function]
    # Each event a new upload under a key of its own, so the warm event does
    # the cold one's work, not the replacement of an earlier version.
    cold_key, warm_key = (key.replace("in/", f"in/run{run}-{phase}/", 1) for phase in ("cold", "warm"))
    s3.put_object(Bucket="input", Key=cold_key, Body=source.read_bytes())
    cold_event = invoke(port, s3_event(cold_key))
    time.sleep(0.5)  # the event waits in the emulator before the process exists
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO / "tests" / "bench", stdout=log, stderr=log)
    answer = finish(cold_event, process, f"{function} cold")
    cold = cold_event.answered_at - started
    init = runtime.ready_at - started
    check(function, answer)

    s3.put_object(Bucket="input", Key=warm_key, Body=source.read_bytes())
    sent = time.perf_counter()
    warm_event = invoke(port, s3_event(warm_key))
    check(function, finish(warm_event, process, f"{function} warm"))
    warm = warm_event.answered_at - sent

    peak = peak_rss_mib(process.pid)
    process.terminate()
    process.wait(timeout=20)
    return cold, init, warm, peak


def peak_rss_mib(pid):
    """The process's peak resident memory since it exec'd (getrusage would
    count the forked copy of this interpreter before the exec)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024


def check(function, answer):
    outcome = answer["results"][0]["outcome"] if "results" in answer else answer
    expected = "expanded" if function == "unzip" else "loaded"
    if outcome != expected:
        raise SystemExit(f"{function}: expected {expected}, got {json.dumps(answer)[:500]}")


def bootstrap_of(function, target_dir, debug):
    return target_dir / "debug" / function if debug else target_dir / "lambda" / function / "bootstrap"


def commands(function, bootstrap, endpoint, queue_url):
    handler, _, _ = FUNCTIONS[function]
    base = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": "_",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "INPUT_BUCKET": "input",
        "OUTPUT_BUCKET": "output",
        "UNZIP_QUEUE_URL": queue_url,
        "AWS_LAMBDA_LOG_LEVEL": "warn",
    }
    rust = [str(bootstrap)]
    python = [str(VENV_BIN / "python"), "-m", "awslambdaric", handler]
    return {
        "inlet (Rust)": (rust, base),
        "Python (boto3 + pyarrow)": (python, base),
    }


def build(functions):
    for function in functions:
        subprocess.run([str(VENV_BIN / "cargo-lambda"), "lambda", "build", "--release", "-p", function], cwd=REPO, check=True,
                       env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per function and implementation (default 5)")
    parser.add_argument("--target-dir", type=Path, default=REPO / "target", help="where cargo lambda left the release bootstraps")
    parser.add_argument("--build", action="store_true", help="build the release bootstraps first, one function at a time")
    parser.add_argument("--debug-build", action="store_true", help="run the workspace's debug binaries (<target-dir>/debug/<function>): a check that the benchmark works, not a measure")
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=list(FUNCTIONS))
    args = parser.parse_args()
    if not 1 <= args.runs <= 50:
        parser.error("--runs is 1 to 50")
    if args.build:
        build(args.functions)
    bootstraps = {function: bootstrap_of(function, args.target_dir, args.debug_build) for function in args.functions}
    for function, bootstrap in bootstraps.items():
        if not bootstrap.exists():
            parser.error(f"{bootstrap} is missing: run `cargo lambda build --release -p {function}`, or pass --build")

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        with moto_server(scratch) as endpoint:
            s3 = client("s3", endpoint)
            for bucket in ("input", "output"):
                s3.create_bucket(Bucket=bucket)
            queue_url = client("sqs", endpoint).create_queue(QueueName="unzip")["QueueUrl"]
            rows = []
            for function in args.functions:
                for name, (command, env) in commands(function, bootstraps[function], endpoint, queue_url).items():
                    with open(LOG, "a") as log:
                        runs = [one_run(command, env, function, s3, log, scratch, f"{name[0]}{run}") for run in range(args.runs)]
                    cold, init, warm, rss = (statistics.median(r[i] for r in runs) for i in range(4))
                    rows.append((function, name, cold, init, warm, rss))
                    print(f"{function:16} {name:26} cold {cold * 1000:6.0f} ms  init {init * 1000:6.0f} ms  "
                          f"warm {warm * 1000:6.0f} ms  peak RSS {rss:5.0f} MiB", flush=True)  # fmt: skip
    print()
    print(f"medians of {args.runs} runs; {os.cpu_count()} cores; {platform_line()}")
    for function in args.functions:
        rust = next(r for r in rows if r[0] == function and r[1].startswith("inlet"))
        python = next(r for r in rows if r[0] == function and r[1].startswith("Python"))
        print(f"{function}: inlet's cold start {rust[2] * 1000:.0f} ms against {python[2] * 1000:.0f} ms, {python[2] / rust[2]:.1f}× faster; "
              f"init {rust[3] * 1000:.0f} ms against {python[3] * 1000:.0f} ms; peak RSS {rust[5]:.0f} MiB against {python[5]:.0f} MiB")  # fmt: skip


def platform_line():
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?")
    return model


if __name__ == "__main__":
    main()
