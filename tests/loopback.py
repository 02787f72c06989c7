"""Tiny SMTP and HTTP servers on 127.0.0.1 (stdlib only), to test alert delivery.

``with smtp_server() as server:`` -> ``server.port``, ``server.mails`` (dicts: from, to, data)
``with webhook_server() as hook:`` -> ``hook.url``, ``hook.received`` (dicts: path, type, json),
``hook.status`` (the HTTP status it answers, 200 by default)
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer


class _SMTPHandler(socketserver.StreamRequestHandler):
    def _send(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode("ascii"))
        self.wfile.flush()

    def handle(self) -> None:
        mail: dict = {"from": None, "to": [], "data": b""}
        self._send("220 localhost test SMTP")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            cmd = raw.decode("ascii", "replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._send("250 localhost")
            elif verb == "MAIL":
                mail["from"] = cmd.split(":", 1)[1].strip().strip("<>")
                self._send("250 OK")
            elif verb == "RCPT":
                mail["to"].append(cmd.split(":", 1)[1].strip().strip("<>"))
                self._send("250 OK")
            elif verb == "DATA":
                self._send("354 end with .")
                lines = []
                while True:
                    line = self.rfile.readline()
                    if line in (b".\r\n", b".\n", b""):
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                mail["data"] = b"".join(lines)
                self.server.mails.append(dict(mail))
                mail = {"from": None, "to": [], "data": b""}
                self._send("250 queued")
            elif verb == "QUIT":
                self._send("221 bye")
                return
            else:
                self._send("250 OK")


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SMTPHandler)
        self.mails: list[dict] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


class WebhookServer(HTTPServer):
    def __init__(self) -> None:
        received: list[dict] = []
        self.received = received
        self.status = 200
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers["Content-Length"])
                received.append(
                    {
                        "path": self.path,
                        "type": self.headers["Content-Type"],
                        "json": json.loads(self.rfile.read(length).decode("utf-8")),
                    }
                )
                self.send_response(server.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/passerelle"


@contextmanager
def _serving(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_server() -> Iterator[SMTPServer]:
    with _serving(SMTPServer()) as server:
        yield server


@contextmanager
def webhook_server() -> Iterator[WebhookServer]:
    with _serving(WebhookServer()) as server:
        yield server


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
