"""A fault-injecting HTTP proxy for loopback tests: it forwards every request
to an upstream (moto's server) unchanged, except those a rule matches, which
get the rule's fault instead, a given number of times.

Faults:
  slow_down     S3's 503 SlowDown, with its XML error body
  internal      S3's 500 InternalError
  throttle      a JSON-protocol 400 ThrottlingException (Glue, DynamoDB, ...)
  cut_response  forwards the request, sends the answer's headers and half its
                body, then drops the connection
  cut_request   reads half of the request body, then drops the connection
                without answering

    with FaultProxy(upstream) as proxy:
        proxy.add(Rule("slow_down", method="GET", path=r"^/input/", times=2))
        ... point the client at proxy.endpoint ...
        assert proxy.fired() == {...}
"""
import http.client
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}

S3_ERROR = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault</RequestId></Error>'


@dataclass
class Rule:
    fault: str
    method: str | None = None
    path: str | None = None  # a regex over the path, query included
    target: str | None = None  # an X-Amz-Target, e.g. AWSGlue.BatchCreatePartition
    times: int = 1
    fired: int = 0

    def matches(self, method, path, target):
        return (
            self.fired < self.times
            and (self.method is None or self.method == method)
            and (self.path is None or re.search(self.path, path) is not None)
            and (self.target is None or self.target == target)
        )


class FaultProxy:
    def __init__(self, upstream):
        self.upstream = urlsplit(upstream)
        self.rules = []
        self.lock = threading.Lock()
        self.requests = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def add(self, rule):
        with self.lock:
            self.rules.append(rule)
        return rule

    def fired(self):
        with self.lock:
            return [(r.fault, r.method, r.path or r.target, r.fired) for r in self.rules]

    def _take_rule(self, method, path, target):
        with self.lock:
            self.requests.append((method, path, target))
            for rule in self.rules:
                if rule.matches(method, path, target):
                    rule.fired += 1
                    return rule
        return None

    def handle(self, request):
        target = request.headers.get("X-Amz-Target")
        rule = self._take_rule(request.command, request.path, target)
        length = int(request.headers.get("Content-Length") or 0)
        if rule and rule.fault == "cut_request":
            request.rfile.read(length // 2)
            self._drop(request)
            return
        body = request.rfile.read(length) if length else b""
        if rule and rule.fault in ("slow_down", "internal", "throttle"):
            self._answer_fault(request, rule.fault)
            return
        status, headers, answer = self._forward(request, body)
        if rule and rule.fault == "cut_response" and len(answer) > 1:
            self._send_head(request, status, headers, len(answer))
            request.wfile.write(answer[: len(answer) // 2])
            request.wfile.flush()
            self._drop(request)
            return
        self._send_head(request, status, headers, len(answer))
        if request.command != "HEAD":
            request.wfile.write(answer)

    def _forward(self, request, body):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        connection.request(request.command, request.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        # A HEAD's length is the object's, not its empty body's.
        keep_length = request.command == "HEAD"
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP and (keep_length or k.lower() != "content-length")]
        connection.close()
        return response.status, headers, answer

    @staticmethod
    def _send_head(request, status, headers, length):
        request.send_response_only(status)
        for key, value in headers:
            request.send_header(key, value)
        if not any(key.lower() == "content-length" for key, _ in headers):
            request.send_header("Content-Length", str(length))
        request.end_headers()

    def _answer_fault(self, request, fault):
        if fault == "throttle":
            status, kind = 400, "application/x-amz-json-1.1"
            body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
            extra = [("x-amzn-ErrorType", "ThrottlingException")]
        else:
            status, kind = (503, "application/xml") if fault == "slow_down" else (500, "application/xml")
            code, message = ("SlowDown", "Please reduce your request rate.") if fault == "slow_down" else ("InternalError", "We encountered an internal error. Please try again.")
            body = S3_ERROR.format(code=code, message=message).encode()
            extra = []
        self._send_head(request, status, [("Content-Type", kind), *extra], len(body))
        request.wfile.write(body)

    @staticmethod
    def _drop(request):
        request.close_connection = True
        try:
            request.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
