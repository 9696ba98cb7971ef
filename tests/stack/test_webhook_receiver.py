"""The webhook test receiver (tools/webhook_receiver.py) over real HTTP, in-process on
a free port: what it accepts and rejects is what the end-to-end tests rely on."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

import webhook_receiver as wr

SECRET = "s3cret-for-tests"


@pytest.fixture()
def base():
    wr.Receiver.secret = SECRET.encode()
    wr.Receiver.state = wr.State()
    server = wr.ThreadingHTTPServer(("127.0.0.1", 0), wr.Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def deliver(base: str, user: str = "00u1", *, secret: str = SECRET, ts: int | None = None,
            body: bytes | None = None, delivery: str = "d1"):
    body = body if body is not None else json.dumps({
        "version": 1, "action": "deprovision", "user": {"id": user, "login": "a@example.com"},
        "event": {"uuid": "e1", "type": "user.lifecycle.deactivate", "published": "2025-01-01T00:00:00Z"},
        "job": "JOB#x", "sent_at": "2025-01-01T00:00:01Z"}).encode()
    ts_text = str(ts if ts is not None else int(time.time()))
    return call("POST", f"{base}/hook", body, {
        "Content-Type": "application/json", "X-Lifecycle-Timestamp": ts_text,
        "X-Lifecycle-Signature": wr.signature(secret.encode(), ts_text, body),
        "X-Lifecycle-Delivery": delivery})


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac
    expected = hmac.new(b"k", b"123.{}", hashlib.sha256).hexdigest()
    assert wr.signature(b"k", "123", b"{}") == f"v1={expected}"


def test_a_signed_delivery_is_accepted_and_recorded(base):
    assert deliver(base) == (200, {"ok": True})
    status, records = call("GET", f"{base}/_deliveries?user=00u1")
    assert status == 200 and len(records) == 1
    r = records[0]
    assert (r["delivery"], r["action"], r["user_id"], r["verified"], r["status"]) == ("d1", "deprovision", "00u1", True, 200)
    assert r["body"]["event"]["uuid"] == "e1"


def test_wrong_secret_stale_or_missing_signature_is_401(base):
    assert deliver(base, secret="other")[0] == 401
    assert deliver(base, ts=int(time.time()) - 301)[0] == 401
    assert deliver(base, ts=int(time.time()) + 301)[0] == 401
    assert call("POST", f"{base}/hook", b"{}", {"Content-Type": "application/json"})[0] == 401
    status, records = call("GET", f"{base}/_deliveries")
    assert [r["verified"] for r in records] == [False] * 4
    assert [r["status"] for r in records] == [401] * 4


def test_a_signed_body_that_is_not_json_is_400(base):
    assert deliver(base, body=b"not json")[0] == 400


def test_faults_answer_their_status_for_count_deliveries_of_that_user_only(base):
    assert call("POST", f"{base}/_faults", json.dumps({"user": "00u1", "status": 503, "count": 2}).encode())[0] == 200
    assert deliver(base, "00u2")[0] == 200
    assert [deliver(base, "00u1")[0] for _ in range(3)] == [503, 503, 200]
    _, records = call("GET", f"{base}/_deliveries?user=00u1")
    assert [r["status"] for r in records] == [503, 503, 200]
    assert all(r["verified"] for r in records)


def test_a_fault_with_count_minus_one_lasts_until_cleared(base):
    call("POST", f"{base}/_faults", json.dumps({"user": "00u1", "status": 500, "count": -1}).encode())
    assert [deliver(base)[0] for _ in range(3)] == [500, 500, 500]
    assert call("DELETE", f"{base}/_faults?user=00u1")[0] == 200
    assert deliver(base)[0] == 200
    call("POST", f"{base}/_faults", json.dumps({"user": "00u1", "status": 500, "count": -1}).encode())
    call("DELETE", f"{base}/_faults")
    assert deliver(base)[0] == 200


def test_health(base):
    assert call("GET", f"{base}/_health") == (200, {"ok": True})
