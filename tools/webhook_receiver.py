#!/usr/bin/env python3
"""A receiver for the deprovision function's signed webhooks, for the local stack and the
end-to-end tests: it checks every delivery the way a careful customer endpoint would,
remembers what it got, and can be told to fail.

The contract (what the function sends), Standard Webhooks (www.standardwebhooks.com):
    POST /hook, Content-Type: application/json
    webhook-id: <event uuid>:<action>:webhook:<name>   (the same on every retry)
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>
                       (two, space-separated, while the sender rotates its secret)
    {"version":1,"action":"deprovision"|"disable"|"restore"|"delete",
     "user":{"id","login"},"event":{"uuid","type","published"},"job","sent_at"}

Verification is the reference `standardwebhooks` package's, not code of ours: it
compares in constant time, accepts the delivery if any one `v1` signature matches, and
refuses a timestamp more than 5 minutes away from now (a replayed delivery).

Answers: 401 for missing or wrong signature headers or a stale timestamp, 400 for a
body that is not JSON, otherwise 200 {"ok":true}, or the status of a configured fault,
in which case the delivery is not accepted.

Control API, for tests (loopback only, no auth):
    GET    /_deliveries[?user=<okta id>]  every request so far, in arrival order, each with
                                          its headers (names lower-cased) and raw body
                                          (`body_base64`, standard base64), so anyone can
                                          verify it again; `body` is the parsed JSON
    POST   /_faults {"user","status","count"}  the next `count` deliveries for that user
                                              answer `status` (count -1: until cleared)
    DELETE /_faults[?user=<okta id>]          clear one user's fault, or all
    POST   /_secret {"secret": "whsec_..."}     verify with this secret from now on (the
                                              receiver's side of a rotation); never echoed
    GET    /_health

The secret comes from the WEBHOOK_SECRET environment variable, never the command line,
where any local user could read it. `whsec_<base64>` is a Standard Webhooks secret (the
key is the decoded bytes); anything else is used as raw bytes, as the function does.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024
WHSEC_PREFIX = "whsec_"


def webhook_for(secret: str) -> Webhook:
    """The verifier for a configured secret: `whsec_<base64>` as the libraries read it,
    anything else as its UTF-8 bytes (the package would base64-decode a bare string)."""
    return Webhook(secret) if secret.startswith(WHSEC_PREFIX) else Webhook(secret.encode())


def verify(webhook: Webhook, headers: dict[str, str], body: bytes) -> str | None:
    """None if the delivery is authentic and fresh, else why not (never the expected
    signature)."""
    try:
        webhook.verify(body, headers, json_parse=False)
    except WebhookVerificationError as e:
        return str(e)
    except (ValueError, binascii.Error):  # a signature without "v1,", bad base64, not UTF-8
        return "malformed signature header or body"
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
    webhook: Webhook | None = None
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
        elif path == "/_secret":
            self._set_secret()
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

    def _set_secret(self) -> None:
        try:
            secret = json.loads(self._body())["secret"]
            if not isinstance(secret, str) or not secret:
                raise ValueError
            webhook = webhook_for(secret)
        except (ValueError, KeyError, TypeError, binascii.Error):
            self._reply(400, {"error": 'expected {"secret": "whsec_<base64>" or a plain secret}'})
            return
        Receiver.webhook = webhook
        self._reply(200, {"ok": True})

    def _hook(self) -> None:
        body = self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        problem = verify(self.webhook, headers, body)
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
            "webhook_id": headers.get("webhook-id"),
            "action": action,
            "user_id": user_id,
            "verified": problem is None,
            "status": status,
            "headers": headers,
            "body_base64": base64.b64encode(body).decode("ascii"),
            "body": doc if doc is not None else body.decode("utf-8", "replace"),
        }
        with self.state.lock:
            self.state.deliveries.append(record)
        print(json.dumps({k: record[k] for k in ("received_at", "webhook_id", "action", "user_id",
                                                  "verified", "status")}), flush=True)
        self._reply(status, answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        sys.exit("WEBHOOK_SECRET is not set")
    Receiver.webhook = webhook_for(secret)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
