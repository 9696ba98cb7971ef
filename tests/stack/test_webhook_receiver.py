"""The webhook test receiver (tools/webhook_receiver.py) over real HTTP, in-process on
a free port: what it accepts and rejects is what the end-to-end tests rely on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook

import webhook_receiver as wr

# What the local stack configures: a Standard Webhooks secret of 32 random bytes.
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
# The vector of the Rust signer's known-answer test (functions/lifecycle/src/targets/webhook.rs).
KAT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KAT_ID, KAT_TS, KAT_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1674087231, '{"test": 2432232314}'
KAT_SIGNATURE = "v1,AQG81rX2n4rTN1fkXoqILSHO9gAOcwya9dP41rhrQDI="


@pytest.fixture(params=[SECRET])
def base(request):
    wr.Receiver.webhook = wr.webhook_for(request.param)
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


def sign(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    """A Standard Webhooks signature made by the reference package, as any sender would."""
    return wr.webhook_for(secret).sign(msg_id, datetime.fromtimestamp(ts, timezone.utc), body.decode())


def deliver(base: str, user: str = "00u1", *, secret: str = SECRET, ts: int | None = None,
            body: bytes | None = None, msg_id: str = "e1:deprovision:webhook:internal",
            signature: str | None = None):
    body = body if body is not None else json.dumps({
        "version": 1, "action": "deprovision", "user": {"id": user, "login": "a@example.com"},
        "event": {"uuid": "e1", "type": "user.lifecycle.deactivate", "published": "2025-01-01T00:00:00Z"},
        "job": "JOB#x", "sent_at": "2025-01-01T00:00:01Z"}).encode()
    ts = ts if ts is not None else int(time.time())
    return call("POST", f"{base}/hook", body, {
        "Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
        "webhook-signature": signature if signature is not None else sign(secret, msg_id, ts, body)})


def test_the_package_agrees_with_the_rust_signers_known_answer():
    assert Webhook(KAT_SECRET).sign(KAT_ID, datetime.fromtimestamp(KAT_TS, timezone.utc), KAT_BODY) == KAT_SIGNATURE
    # And that is the spec's scheme: base64 HMAC-SHA256 over "<id>.<timestamp>.<body>".
    key = base64.b64decode(KAT_SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{KAT_ID}.{KAT_TS}.{KAT_BODY}".encode(), hashlib.sha256).digest()
    assert KAT_SIGNATURE == "v1," + base64.b64encode(mac).decode()


def test_a_plain_secret_is_its_bytes_and_a_whsec_secret_its_decoded_base64():
    raw = "a-plain-secret-of-old"
    mac = hmac.new(raw.encode(), b"i.1.{}", hashlib.sha256).digest()
    assert wr.webhook_for(raw).sign("i", datetime.fromtimestamp(1, timezone.utc), "{}") == \
        "v1," + base64.b64encode(mac).decode()
    assert wr.webhook_for(KAT_SECRET).sign(KAT_ID, datetime.fromtimestamp(KAT_TS, timezone.utc), KAT_BODY) == KAT_SIGNATURE


def test_a_signed_delivery_is_accepted_and_recorded_with_headers_and_raw_body(base):
    assert deliver(base) == (200, {"ok": True})
    status, records = call("GET", f"{base}/_deliveries?user=00u1")
    assert status == 200 and len(records) == 1
    r = records[0]
    assert (r["webhook_id"], r["action"], r["user_id"], r["verified"], r["status"]) == \
        ("e1:deprovision:webhook:internal", "deprovision", "00u1", True, 200)
    assert r["body"]["event"]["uuid"] == "e1"
    # Enough to verify it again, with any Standard Webhooks library.
    raw = base64.b64decode(r["body_base64"])
    assert json.loads(raw) == r["body"]
    assert {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"} <= set(r["headers"])
    Webhook(SECRET).verify(raw, r["headers"])


@pytest.mark.parametrize("base", ["a-plain-secret-of-old"], indirect=True)
def test_a_plain_secret_receiver_accepts_deliveries_signed_with_its_bytes(base):
    assert deliver(base, secret="a-plain-secret-of-old")[0] == 200
    assert deliver(base, secret="whsec_" + base64.b64encode(b"a-plain-secret-of-old").decode())[0] == 200
    assert deliver(base, secret=SECRET)[0] == 401


def test_during_a_rotation_one_valid_signature_of_two_is_enough(base):
    ts, msg_id = int(time.time()), "e2:deprovision:webhook:internal"
    body = json.dumps({"action": "deprovision", "user": {"id": "00u1"}}).encode()
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    good, stale = sign(SECRET, msg_id, ts, body), sign(other, msg_id, ts, body)
    for header in (f"{good} {stale}", f"{stale} {good}"):
        assert deliver(base, body=body, ts=ts, msg_id=msg_id, signature=header)[0] == 200
    assert deliver(base, body=body, ts=ts, msg_id=msg_id, signature=f"{stale} {stale}")[0] == 401


def test_wrong_secret_stale_tampered_or_missing_signature_is_401(base):
    assert deliver(base, secret="whsec_" + base64.b64encode(b"x" * 32).decode())[0] == 401
    assert deliver(base, ts=int(time.time()) - 301)[0] == 401
    assert deliver(base, ts=int(time.time()) + 301)[0] == 401
    ts = int(time.time())
    # Signed for another id: the id is part of what is signed.
    assert deliver(base, ts=ts, msg_id="e9:deprovision:webhook:internal",
                   signature=sign(SECRET, "e1:deprovision:webhook:internal", ts, b"{}"), body=b"{}")[0] == 401
    assert deliver(base, signature="v1=deadbeef")[0] == 401  # the old scheme, or junk
    assert deliver(base, signature="v1,not-base64!")[0] == 401
    assert call("POST", f"{base}/hook", b"{}", {"Content-Type": "application/json"})[0] == 401
    status, records = call("GET", f"{base}/_deliveries")
    assert [r["verified"] for r in records] == [False] * 7
    assert [r["status"] for r in records] == [401] * 7


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


def test_a_new_secret_set_at_runtime_replaces_the_old_one(base):
    new = "whsec_" + base64.b64encode(b"n" * 32).decode()
    assert call("POST", f"{base}/_secret", json.dumps({"secret": new}).encode())[0] == 200
    assert deliver(base, "00u7", secret=new)[0] == 200
    status, answer = deliver(base, "00u7", secret=SECRET)
    assert status == 401 and new not in json.dumps(answer)
    assert call("POST", f"{base}/_secret", b'{"secret": ""}')[0] == 400
    assert deliver(base, "00u7", secret=new)[0] == 200, "a refused change keeps the secret"
