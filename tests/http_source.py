"""A loopback HTTP server standing in for a remote data source: canned
answers per path, conditional requests honoured, very large bodies generated
as they are sent, and every request recorded."""
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class File:
    """A file the server holds; answers 304 to a matching If-None-Match."""

    body: bytes
    etag: str | None = None


@dataclass
class Status:
    """An answer with no file: an error, a redirect."""

    code: int
    headers: dict = field(default_factory=dict)


@dataclass
class Generated:
    """`size` bytes of repeated `line`, made while sending."""

    size: int
    line: bytes = b"AAA,20240102,1.0,2.0,0.5,1.5,100\n"


class SourceServer:
    def __init__(self):
        self.routes = {}
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                answers = server.routes.get(self.path)
                answer = (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else Status(404)
                server.answer(self, answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path, *answers):
        """`path` answers with each of `answers` in turn, the last one repeating."""
        self.routes[path] = list(answers)

    def paths(self):
        return [path for path, _ in self.requests]

    @staticmethod
    def answer(handler, answer):
        if isinstance(answer, File):
            if answer.etag and handler.headers.get("If-None-Match") == answer.etag:
                handler.send_response(304)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(200)
            if answer.etag:
                handler.send_header("ETag", answer.etag)
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            handler.wfile.write(answer.body)
        elif isinstance(answer, Generated):
            handler.send_response(200)
            handler.send_header("Content-Length", str(answer.size))
            handler.end_headers()
            chunk = answer.line * ((1 << 20) // len(answer.line) + 1)
            left = answer.size
            while left:
                piece = chunk[: min(left, len(chunk))]
                handler.wfile.write(piece)
                left -= len(piece)
        else:
            handler.send_response(answer.code)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
