"""`inlet download`: sources fetched from a loopback HTTP server into the
input bucket (folders, and moto's S3), only when changed, then ingested by the
pipeline their names route to."""
import json

import pytest

from aws_local import CREDENTIALS, client, moto_server
from conftest import REPO
from http_source import File, Generated, SourceServer, Status

AT = "2020-12-02T08:00:00Z"  # 19:00 on 2 December in Sydney: yesterday is 1 December.
EOD = (REPO / "data" / "asx_eod_20201201.csv").read_bytes()


@pytest.fixture
def server():
    with SourceServer() as server:
        yield server


def sources_file(tmp_path, server, path, *, kind="direct", pattern=None, allow_private=True, source_id="asx_eod"):
    lines = [
        "sources:",
        f"  - id: {source_id}",
        f'    url: "{server.url(path)}"',
        f"    type: {kind}",
        "    schedule: cron(0 8 ? * TUE-SAT *)",
        "    timezone: Australia/Sydney",
        "    target: asx/",
        f"    allow_private_addresses: {'true' if allow_private else 'false'}",
    ]
    if pattern:
        lines.append(f"    pattern: '{pattern}'")
    file = tmp_path / "sources.yaml"
    file.write_text("\n".join(lines) + "\n")
    return file


def download(inlet, sources, *args, check=True, env=None):
    return inlet.run("download", "--sources", sources, "--at", AT, "--read-timeout", "2", *args, check=check, env=env)


def test_a_file_is_fetched_ingested_and_not_fetched_again_while_unchanged(inlet, server, tmp_path):
    server.serve("/eod/asx_eod_20201201.csv", File(EOD, etag='"v1"'))
    sources = sources_file(tmp_path, server, "/eod/asx_eod_{yesterday}.csv")

    first = download(inlet, sources)
    assert "→ in/asx/asx_eod_20201201.csv" in first.stdout, first.stdout
    assert inlet.query("SELECT count(*) AS n FROM asx_eod") == [{"n": 150}]
    assert inlet.keys("input") == ["done/asx/asx_eod_20201201.csv"]

    second = download(inlet, sources)
    assert "not modified" in second.stdout, second.stdout
    assert server.requests[-1][1].get("if-none-match") == '"v1"'
    assert inlet.keys("input") == ["done/asx/asx_eod_20201201.csv"], "nothing reached in/, nothing was staged"
    assert inlet.query("SELECT count(*) AS n FROM asx_eod") == [{"n": 150}]


def test_a_changed_file_is_fetched_again_and_the_same_bytes_are_not(inlet, server, tmp_path):
    changed = EOD.replace(b"115.982", b"116.000")
    server.serve("/asx_eod_20201201.csv", File(EOD), File(changed), File(changed))
    sources = sources_file(tmp_path, server, "/asx_eod_{yesterday}.csv")
    outputs = [download(inlet, sources, "--no-ingest").stdout for _ in range(3)]
    assert "→ in/asx/" in outputs[0] and "→ in/asx/" in outputs[1], outputs
    assert "unchanged (same SHA-256" in outputs[2], outputs[2]
    assert (inlet.buckets / "input" / "in/asx/asx_eod_20201201.csv").read_bytes() == changed


def test_a_500_then_a_200_lands_exactly_one_object(inlet, server, tmp_path):
    server.serve("/asx_eod_20201201.csv", Status(500), File(EOD))
    sources = sources_file(tmp_path, server, "/asx_eod_{yesterday}.csv")
    download(inlet, sources)
    assert server.paths() == ["/asx_eod_20201201.csv"] * 2
    assert inlet.keys("input") == ["done/asx/asx_eod_20201201.csv"]
    assert inlet.query("SELECT count(*) AS n FROM asx_eod") == [{"n": 150}]


def test_a_404_fails_clearly_lands_nothing_and_is_recorded(inlet, server, tmp_path):
    sources = sources_file(tmp_path, server, "/asx_eod_{yesterday}.csv")
    result = download(inlet, sources, check=False)
    assert result.returncode == 1
    assert "failed:" in result.stdout and "404" in result.stdout, result.stdout
    assert server.paths() == ["/asx_eod_20201201.csv"], "a 404 is not retried"
    assert inlet.keys("input") == []
    state = json.loads((inlet.state_dir / "sources" / "state.json").read_text())
    record = state["asx_eod"][server.url("/asx_eod_20201201.csv")]
    assert record["last_status"] == 404 and record["consecutive_failures"] == 1 and "404" in record["last_error"]


def test_loopback_is_refused_without_the_flag_before_any_request(inlet, server, tmp_path):
    server.serve("/asx_eod_20201201.csv", File(EOD))
    sources = sources_file(tmp_path, server, "/asx_eod_{yesterday}.csv", allow_private=False)
    result = download(inlet, sources, check=False)
    assert result.returncode == 1
    assert "loopback address" in result.stdout and "allow_private_addresses" in result.stdout, result.stdout
    assert server.requests == [], "the server that would have answered saw nothing"


def test_a_listing_page_yields_only_its_matching_links(inlet, server, tmp_path):
    page = b'<a href="asx_eod_20201201.csv">1</a> <a href="notes.txt">n</a> <a href="/elsewhere/asx_eod_20201203.csv">3</a>'
    server.serve("/eod/", File(page))
    server.serve("/eod/asx_eod_20201201.csv", File(EOD))
    server.serve("/elsewhere/asx_eod_20201203.csv", File((REPO / "data" / "asx_eod_20201203.csv").read_bytes()))
    sources = sources_file(tmp_path, server, "/eod/", kind="links", pattern=r"asx_eod_\d{8}\.csv$")
    download(inlet, sources)
    assert "/eod/notes.txt" not in server.paths()
    # The 3 December sample has 4 rows the checks reject.
    assert inlet.query("SELECT count(*) AS n FROM asx_eod") == [{"n": 296}]


def test_a_stalled_server_hits_the_read_timeout(inlet, tmp_path):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: [accepted.append(listener.accept()) for _ in range(2)], daemon=True).start()
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - id: asx_eod\n"
        f'    url: "http://127.0.0.1:{listener.getsockname()[1]}/asx_eod_{{yesterday}}.csv"\n'
        "    type: direct\n    schedule: rate(1 day)\n    target: asx/\n    allow_private_addresses: true\n"
    )
    result = download(inlet, sources, "--attempts", "2", check=False)
    listener.close()
    assert result.returncode == 1
    assert "no answer within 2s" in result.stdout, result.stdout
    assert len(accepted) == 2, "the timeout was retried once"
    assert inlet.keys("input") == []


def test_a_1_gib_body_streams_in_bounded_memory(inlet, server, tmp_path):
    size = 1 << 30
    server.serve("/asx_eod_20201201.csv", Generated(size))
    sources = sources_file(tmp_path, server, "/asx_eod_{yesterday}.csv")
    result, peak_mib = inlet.run_measured(
        "download", "--sources", sources, "--at", AT, "--no-ingest", "--max-file-mib", "2048"
    )
    assert "→ in/asx/asx_eod_20201201.csv (1.00 GiB)" in result.stdout, result.stdout
    assert (inlet.buckets / "input" / "in/asx/asx_eod_20201201.csv").stat().st_size == size
    assert peak_mib < 128, f"peak RSS {peak_mib:.0f} MiB"


def test_the_size_cap_refuses_a_larger_file(inlet, server, tmp_path):
    server.serve("/asx_eod_20201201.csv", Generated(3 << 20))
    sources = sources_file(tmp_path, server, "/asx_eod_{yesterday}.csv")
    result = download(inlet, sources, "--max-file-mib", "2", check=False)
    assert result.returncode == 1 and "larger than the 2097152-byte cap" in result.stdout, result.stdout
    assert inlet.keys("input") == []


def test_on_s3_a_large_file_goes_up_in_parts_and_a_repeat_writes_nothing(inlet, server, tmp_path):
    body = EOD * (20 * 1024 * 1024 // len(EOD))  # ~20 MiB: three parts
    server.serve("/asx_eod_20201201.csv", File(body, etag='"big"'))
    sources = sources_file(tmp_path, server, "/asx_eod_{yesterday}.csv")
    with moto_server(tmp_path) as endpoint:
        s3 = client("s3", endpoint)
        for bucket in ("input", "output"):
            s3.create_bucket(Bucket=bucket)
        client("glue", endpoint).create_database(DatabaseInput={"Name": "inlet"})
        download(inlet, sources, "--endpoint", endpoint, "--no-ingest", env=CREDENTIALS)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="input").get("Contents", [])]
        assert keys == ["in/asx/asx_eod_20201201.csv"], keys
        landed = s3.get_object(Bucket="input", Key=keys[0])
        assert landed["ContentLength"] == len(body) and landed["Body"].read() == body

        s3.delete_object(Bucket="input", Key=keys[0])
        again = download(inlet, sources, "--endpoint", endpoint, "--no-ingest", env=CREDENTIALS)
        assert "not modified" in again.stdout, again.stdout
        assert s3.list_objects_v2(Bucket="input").get("KeyCount") == 0


@pytest.fixture
def ftp_root(tmp_path):
    """pyftpdlib on 127.0.0.1, anonymous and read-only, serving a folder."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer
    import threading

    root = tmp_path / "ftp"
    root.mkdir()
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(str(root))
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "inlet test server"})
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    thread.start()
    yield root, server.address[1]
    server.close_all()


FTP_SOURCES = """sources:
  - id: ted_packages
    url: "ftp://127.0.0.1:{port}/daily-packages/{{lastmonth_year}}/{{lastmonth}}/"
    type: ftp_files
    pattern: '^\\d{{8}}_\\d{{3}}\\.tar\\.gz$'
    schedule: cron(0 6 2 * ? *)
    target: ted/
    allow_private_addresses: {allow}
"""


def test_an_ftp_directory_yields_its_matching_files_once(inlet, ftp_root, tmp_path):
    root, port = ftp_root
    month = root / "daily-packages" / "2024" / "01"
    month.mkdir(parents=True)
    (month / "20240102_001.tar.gz").write_bytes((REPO / "data" / "ted" / "20240102_001.tar.gz").read_bytes())
    (month / "README.txt").write_text("not a package")
    sources = tmp_path / "sources.yaml"
    sources.write_text(FTP_SOURCES.format(port=port, allow="true"))

    # A run on 2 February fetches January's packages.
    first = inlet.run("download", "--sources", sources, "--at", "2024-02-02T06:00:00Z")
    assert "→ in/ted/20240102_001.tar.gz" in first.stdout and "README" not in first.stdout, first.stdout
    assert inlet.query("SELECT count(*) AS n FROM ted_notices")[0]["n"] > 0

    second = inlet.run("download", "--sources", sources, "--at", "2024-02-02T06:00:00Z")
    assert "not modified" in second.stdout, second.stdout
    assert not [k for k in inlet.keys("input") if k.startswith("in/")]


def test_an_ftp_server_on_loopback_is_refused_without_the_flag(inlet, ftp_root, tmp_path):
    _, port = ftp_root
    sources = tmp_path / "sources.yaml"
    sources.write_text(FTP_SOURCES.format(port=port, allow="false"))
    result = inlet.run("download", "--sources", sources, "--at", "2024-02-02T06:00:00Z", check=False)
    assert result.returncode == 1 and "loopback address" in result.stdout, result.stdout
