"""Local receivers for alert tests: a webhook (a real http.server thread) and an SMTP
server (aiosmtpd), both on 127.0.0.1 with a free port."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


class WebhookReceiver:
    """Records every POST's JSON body; answers `failures` times 500 before 200."""

    def __init__(self, failures: int = 0) -> None:
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(500, "Receiver down for the test")
                    self.end_headers()
                    return
                receiver.headers.append(dict(self.headers))
                receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/test-key"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class MailReceiver:
    """An SMTP server keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                from email import message_from_bytes, policy

                receiver.messages.append(
                    (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
                )
                return "250 Message accepted for delivery"

        # aiosmtpd's Controller connects to its port to check it started: no port 0.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
