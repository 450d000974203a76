"""HTTP/1.1 with keep-alive over `http.server.ThreadingHTTPServer`: one thread per
connection, JSON answers with a content-length, server-sent events chunked."""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import SERVER_NAME, VERSION
from .app import App
from .protocols import route
from .protocols.common import Reply, StreamReply

MAX_BODY = 64 * 1024 * 1024


class Server(ThreadingHTTPServer):
    """The listening server; `app` is shared by every request."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, app: App, log_requests: bool = False):
        self.app = app
        self.log_requests = log_requests
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    """Reads a request, routes it, writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = f"{SERVER_NAME}/{VERSION}"
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError(f"body of {length} bytes is over {MAX_BODY}")
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        try:
            body = self._body()
        except (ValueError, OSError) as e:
            self._json(Reply(400, {"error": f"cannot read the request body: {e}"}))
            self.close_connection = True
            return
        reply = route(self.server.app, method, self.path, body)
        if isinstance(reply, StreamReply):
            self._stream(reply)
        else:
            self._json(reply)

    def _json(self, reply: Reply) -> None:
        data = json.dumps(reply.body, separators=(",", ":")).encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: StreamReply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        alive = [True]

        def emit(data: str) -> bool:
            if not alive[0]:
                return False
            event = f"data: {data}\n\n".encode("utf-8")
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            except (OSError, socket.error):
                alive[0] = False
            return alive[0]

        reply.run(emit)
        if alive[0]:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                alive[0] = False
        if not alive[0]:
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if self.server.log_requests:
            super().log_message(format, *args)


def serve(host: str, port: int, app: App, log_requests: bool = False) -> Server:
    """Binds (port 0: any free one); the caller runs `serve_forever`."""
    return Server((host, port), app, log_requests)

