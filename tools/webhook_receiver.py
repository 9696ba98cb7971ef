#!/usr/bin/env python3
"""A receiver for the deprovision function's signed webhooks, for the local stack and the
end-to-end tests: it checks every delivery the way a careful customer endpoint would,
remembers what it got, and can be told to fail.

The contract (what the function sends):
    POST /hook, Content-Type: application/json
    X-Lifecycle-Timestamp: <unix seconds>
    X-Lifecycle-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-Lifecycle-Delivery: <idempotency key>
    {"version":1,"action":"deprovision"|"disable"|"restore"|"delete",
     "user":{"id","login"},"event":{"uuid","type","published"},"job","sent_at"}

Answers: 401 for a missing or wrong signature or a timestamp more than 300 s away from
now (a replayed delivery), 400 for a body that is not JSON, otherwise 200 {"ok":true},
or the status of a configured fault, in which case the delivery is not accepted.

Control API, for tests (loopback only, no auth):
    GET    /_deliveries[?user=<okta id>]  every request so far, in arrival order
    POST   /_faults {"user","status","count"}  the next `count` deliveries for that user
                                              answer `status` (count -1: until cleared)
    DELETE /_faults[?user=<okta id>]          clear one user's fault, or all
    GET    /_health

The secret comes from the WEBHOOK_SECRET environment variable, never the command line,
where any local user could read it.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_SKEW_SECONDS = 300
MAX_BODY = 1024 * 1024


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The v1 signature: hex HMAC-SHA256 over "<timestamp>.<raw body>"."""
    return "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str | None, sig: str | None, body: bytes,
           now: float) -> str | None:
    """None if the delivery is authentic and fresh, else why not. The comparison is
    constant-time so that the answer's timing tells nothing about the expected value."""
    if not timestamp or not sig:
        return "missing signature headers"
    try:
        ts = int(timestamp)
    except ValueError:
        return "timestamp is not an integer"
    if abs(now - ts) > MAX_SKEW_SECONDS:
        return "timestamp outside the 300 s window"
    if not hmac.compare_digest(signature(secret, timestamp, body).encode(), sig.encode()):
        return "signature mismatch"
    return None


class State:
    """Deliveries and faults, shared by the server's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: list[dict] = []
        self.faults: dict[str, dict] = {}  # user id -> {"status", "count"}

    def take_fault(self, user_id: str | None) -> int | None:
        """The status a configured fault imposes on this delivery, counting it down."""
        with self.lock:
            fault = self.faults.get(user_id or "")
            if fault is None:
                return None
            if fault["count"] > 0:
                fault["count"] -= 1
                if fault["count"] == 0:
                    del self.faults[user_id]
            return fault["status"]


class Receiver(BaseHTTPRequestHandler):
    secret = b""
    state = State()
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the hook deliveries are logged as JSON below
        pass

    def _reply(self, status: int, body) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(min(length, MAX_BODY + 1)) if length else b""

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/_health":
            self._reply(200, {"ok": True})
        elif url.path == "/_deliveries":
            user = query.get("user", [None])[0]
            with self.state.lock:
                out = [d for d in self.state.deliveries if user is None or d["user_id"] == user]
            self._reply(200, out)
        else:
            self._reply(404, {"error": "not found"})

    def do_DELETE(self):
        url = urlsplit(self.path)
        if url.path != "/_faults":
            self._reply(404, {"error": "not found"})
            return
        user = parse_qs(url.query).get("user", [None])[0]
        with self.state.lock:
            if user is None:
                self.state.faults.clear()
            else:
                self.state.faults.pop(user, None)
        self._reply(200, {"ok": True})

    def do_POST(self):
        path = urlsplit(self.path).path
        if path == "/_faults":
            self._set_fault()
        elif path == "/hook":
            self._hook()
        else:
            self._reply(404, {"error": "not found"})

    def _set_fault(self) -> None:
        try:
            spec = json.loads(self._body())
            user, status, count = str(spec["user"]), int(spec["status"]), int(spec.get("count", 1))
        except (ValueError, KeyError, TypeError):
            self._reply(400, {"error": 'expected {"user": "...", "status": 503, "count": N}'})
            return
        if count == 0 or count < -1:
            self._reply(400, {"error": "count must be positive, or -1 for until cleared"})
            return
        with self.state.lock:
            self.state.faults[user] = {"status": status, "count": count}
        self._reply(200, {"ok": True})

    def _hook(self) -> None:
        body = self._body()
        problem = verify(self.secret, self.headers.get("x-lifecycle-timestamp"),
                         self.headers.get("x-lifecycle-signature"), body, time.time())
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        user_id = doc.get("user", {}).get("id") if isinstance(doc, dict) and isinstance(doc.get("user"), dict) else None
        action = doc.get("action") if isinstance(doc, dict) else None
        if problem is not None:
            status, answer = 401, {"error": problem}
        elif not isinstance(doc, dict):
            status, answer = 400, {"error": "body is not a JSON object"}
        else:
            fault = self.state.take_fault(user_id)
            status, answer = (fault, {"error": "injected fault"}) if fault else (200, {"ok": True})
        record = {
            "received_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "delivery": self.headers.get("x-lifecycle-delivery"),
            "action": action,
            "user_id": user_id,
            "verified": problem is None,
            "status": status,
            "body": doc if doc is not None else body.decode("utf-8", "replace"),
        }
        with self.state.lock:
            self.state.deliveries.append(record)
        print(json.dumps({k: record[k] for k in ("received_at", "delivery", "action", "user_id",
                                                  "verified", "status")}), flush=True)
        self._reply(status, answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        sys.exit("WEBHOOK_SECRET is not set")
    Receiver.secret = secret.encode()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
