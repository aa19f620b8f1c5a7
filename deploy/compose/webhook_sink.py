#!/usr/bin/env python3
"""The compose stack's stand-in alert destination: accepts the forwarder's webhook POSTs,
answers 200 and prints one line per alert (severity, rule, title, alert id) to stdout.

    python3 webhook_sink.py --listen 0.0.0.0:8099

Standard library only: it runs in the corvid image and from the native launcher alike.
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "corvid-webhook-sink"

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self._answer(200, {"ok": True})
        else:
            self._answer(404, {"error": "POST alerts to any path"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            alert = json.loads(body)
        except ValueError:
            self._answer(400, {"error": "body is not JSON"})
            return
        if not isinstance(alert, dict):
            alert = {"value": alert}
        print(
            "ALERT {:<8} {} {} (alert {}, events {})".format(
                str(alert.get("severity", "?")),
                alert.get("ruleId", "?"),
                json.dumps(alert.get("title", "")),
                alert.get("alertId", "?"),
                alert.get("eventCount", "?"),
            ),
            flush=True,
        )
        self._answer(200, {"ok": True})

    def log_message(self, format, *args):  # one line per alert is enough
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="0.0.0.0:8099", help="HOST:PORT to serve on")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    print(f"webhook sink listening on {args.listen}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
