"""The local API Gateway (tools/gateway.py) over real HTTP, in-process on a free port, in
front of a fake Lambda invoke endpoint that echoes the event: route selection, path
parameters, and AWS_IAM routes, whose requests are signed here with botocore's own SigV4
signer so the verifier (tools/sigv4.py) is checked against AWS's."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import gateway
import sigv4

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ROUTES = [
    {"method": "POST", "path": "/actions", "function": "actions", "auth": "AWS_IAM"},
    {"method": "GET", "path": "/actions/{request_id}", "function": "actions", "auth": "AWS_IAM"},
    {"method": "GET", "path": "/actions/latest", "function": "latest", "auth": None},
    {"method": "GET", "path": "/okta", "function": "hook-verify", "auth": None},
    {"method": "ANY", "path": "/okta", "function": "hook-intake"},  # routes.json from before "auth"
    {"method": "GET", "path": "/files/{proxy+}", "function": "files", "auth": None},
    {"method": "GET", "path": "/files/{kind}/readme", "function": "readme", "auth": None},
]


class FakeLambda:
    """Lambda's invoke API: records each event and answers 200 with the event as body."""

    def __init__(self):
        self.invocations: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                name = self.path.split("/")[3]
                event = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.invocations.append((name, event))
                out = json.dumps({"statusCode": 200, "headers": {"content-type": "application/json"},
                                  "body": json.dumps({"function": name, "event": event})}).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake_lambda():
    fake = FakeLambda()
    yield fake
    fake.close()


@pytest.fixture()
def base(fake_lambda):
    server = gateway.make_server(0, ROUTES, fake_lambda.url, region=REGION)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def sign(method: str, url: str, body: bytes | None = None, *, key: str = "local", secret: str = "local",
         token: str | None = None, service: str = "execute-api", region: str = REGION,
         headers: dict | None = None) -> dict:
    """The headers botocore's SigV4 signer adds, with the ones given."""
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(req)
    return dict(req.headers.items())


def signed_call(method: str, url: str, body: bytes | None = None, **kw):
    return call(method, url, body, sign(method, url, body, **kw))


def test_signed_get_with_path_parameter_and_query_reaches_the_function(base, fake_lambda):
    url = f"{base}/actions/req-123?b=2&a=1&a=0&note=hello%20world"
    status, answer = signed_call("GET", url)
    assert status == 200, answer
    event = answer["event"]
    assert answer["function"] == "actions"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "GET /actions/{request_id}"
    assert event["rawPath"] == "/actions/req-123"
    assert event["pathParameters"] == {"request_id": "req-123"}
    assert event["rawQueryString"] == "b=2&a=1&a=0&note=hello%20world"
    assert event["queryStringParameters"] == {"a": "1,0", "b": "2", "note": "hello world"}
    assert event["requestContext"]["authorizer"] == {"iam": {
        "accessKey": "local", "accountId": "000000000000", "callerId": gateway.LOCAL_USER_ID,
        "cognitoIdentity": None, "principalOrgId": None,
        "userArn": "arn:aws:iam::000000000000:user/local", "userId": gateway.LOCAL_USER_ID}}
    assert len(fake_lambda.invocations) == 1


def test_path_parameters_are_decoded_and_the_signature_covers_the_encoded_path(base):
    status, answer = signed_call("GET", f"{base}/actions/a%20b%2Fc")
    assert status == 200, answer
    assert answer["event"]["pathParameters"] == {"request_id": "a b/c"}
    assert answer["event"]["rawPath"] == "/actions/a%20b%2Fc"


def test_signed_post_with_json_body_reaches_the_function(base, fake_lambda):
    body = json.dumps({"action": "deprovision", "user": "00u1"}).encode()
    status, answer = signed_call("POST", f"{base}/actions", body,
                                 headers={"Content-Type": "application/json"})
    assert status == 200, answer
    event = answer["event"]
    assert event["routeKey"] == "POST /actions"
    assert "pathParameters" not in event
    assert json.loads(event["body"]) == {"action": "deprovision", "user": "00u1"}
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == "local"
    assert len(fake_lambda.invocations) == 1


def test_a_signed_content_sha256_header_is_accepted_when_it_is_the_body_hash(base):
    body = b'{"x":1}'
    status, _ = signed_call("POST", f"{base}/actions", body, headers={
        "Content-Type": "application/json", "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    assert status == 200
    status, answer = signed_call("POST", f"{base}/actions", body, headers={
        "Content-Type": "application/json", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert status == 403 and answer["message"].startswith(sigv4.MISMATCH)


def test_unsigned_requests_are_forbidden_and_never_invoke(base, fake_lambda):
    assert call("GET", f"{base}/actions/req-123") == (403, {"message": "Forbidden"})
    assert call("POST", f"{base}/actions", b"{}", {"Content-Type": "application/json"}) == \
        (403, {"message": "Forbidden"})
    assert fake_lambda.invocations == []


def test_wrong_secret_is_a_signature_mismatch(base, fake_lambda):
    status, answer = signed_call("GET", f"{base}/actions/req-123", secret="not-local")
    assert status == 403
    assert answer["message"].startswith(sigv4.MISMATCH + "\n\nThe Canonical String for this request should have been\n'GET\n/actions/req-123\n")
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in answer["message"]
    assert fake_lambda.invocations == []


def test_unknown_access_key_or_session_token_is_an_invalid_token(base, fake_lambda):
    assert signed_call("GET", f"{base}/actions/r", key="AKIAOTHER", secret="local") == \
        (403, {"message": "The security token included in the request is invalid."})
    assert signed_call("GET", f"{base}/actions/r", token="some-session-token") == \
        (403, {"message": "The security token included in the request is invalid."})
    assert fake_lambda.invocations == []


def test_tampered_body_is_a_signature_mismatch(base, fake_lambda):
    url = f"{base}/actions"
    headers = sign("POST", url, b'{"user":"00u1"}', headers={"Content-Type": "application/json"})
    status, answer = call("POST", url, b'{"user":"00u2"}', headers)
    assert status == 403 and answer["message"].startswith(sigv4.MISMATCH)
    assert fake_lambda.invocations == []


def test_tampered_path_query_or_method_is_a_signature_mismatch(base, fake_lambda):
    headers = sign("GET", f"{base}/actions/req-1?a=1")
    for url in (f"{base}/actions/req-2?a=1", f"{base}/actions/req-1?a=2", f"{base}/actions/req-1"):
        status, answer = call("GET", url, None, headers)
        assert status == 403 and answer["message"].startswith(sigv4.MISMATCH), url
    post = sign("GET", f"{base}/actions")
    assert call("POST", f"{base}/actions", b"", post)[0] == 403
    assert fake_lambda.invocations == []


def test_wrong_service_or_region_in_the_scope_is_refused(base, fake_lambda):
    assert signed_call("GET", f"{base}/actions/r", service="lambda") == \
        (403, {"message": "Credential should be scoped to correct service: 'execute-api'."})
    assert signed_call("GET", f"{base}/actions/r", region="eu-west-1") == \
        (403, {"message": "Credential should be scoped to a valid region, not 'eu-west-1'."})
    assert fake_lambda.invocations == []


def test_stale_or_future_signatures_are_refused(base, fake_lambda, monkeypatch):
    real_now = datetime.now(timezone.utc).replace(tzinfo=None)
    for skew, prefix in ((-6, "Signature expired: "), (6, "Signature not yet current: ")):
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real_now + timedelta(minutes=skew))
        status, answer = signed_call("GET", f"{base}/actions/r")
        assert status == 403 and answer["message"].startswith(prefix), answer
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real_now - timedelta(minutes=4))
    assert signed_call("GET", f"{base}/actions/r")[0] == 200
    assert len(fake_lambda.invocations) == 1


def test_malformed_authorization_is_refused(base, fake_lambda):
    url = f"{base}/actions/r"
    good = sign("GET", url)
    for broken, expect in (
        ("Bearer abc", "Authorization header requires 'Credential' parameter. "
                       "Authorization header requires 'Signature' parameter. "
                       "Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer abc"),
        (good["Authorization"].split(", Signature=")[0],
         "Authorization header requires 'Signature' parameter."),
        (good["Authorization"].replace("/us-east-1/", "/"), "Credential must have exactly 5 slash-delimited"),
    ):
        status, answer = call("GET", url, None, {**good, "Authorization": broken})
        assert status == 403 and answer["message"].startswith(expect), answer
    no_date = {k: v for k, v in good.items() if k != "X-Amz-Date"}
    status, answer = call("GET", url, None, no_date)
    assert status == 403 and "requires existence of either a 'X-Amz-Date' or a 'Date' header" in answer["message"]
    assert fake_lambda.invocations == []


def test_plain_routes_need_no_signature_and_get_no_authorizer(base, fake_lambda):
    status, answer = call("GET", f"{base}/okta")
    assert status == 200 and answer["function"] == "hook-verify"
    assert "authorizer" not in answer["event"]["requestContext"]
    assert "pathParameters" not in answer["event"]
    status, answer = call("DELETE", f"{base}/okta")  # a route without "auth" is open
    assert status == 200 and answer["function"] == "hook-intake"
    assert answer["event"]["routeKey"] == "ANY /okta"


def test_an_exact_route_wins_over_a_parameterised_one(base, fake_lambda):
    status, answer = call("GET", f"{base}/actions/latest")  # the open exact route, unsigned
    assert status == 200 and answer["function"] == "latest"
    assert answer["event"]["routeKey"] == "GET /actions/latest"
    assert call("GET", f"{base}/actions/other") == (403, {"message": "Forbidden"})


def test_greedy_variables_take_the_rest_and_lose_to_more_specific_routes(base):
    status, answer = call("GET", f"{base}/files/a/b/c.txt")
    assert status == 200 and answer["function"] == "files"
    assert answer["event"]["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert answer["event"]["routeKey"] == "GET /files/{proxy+}"
    status, answer = call("GET", f"{base}/files/docs/readme")
    assert answer["function"] == "readme" and answer["event"]["pathParameters"] == {"kind": "docs"}
    assert call("GET", f"{base}/files")[0] == 404


def test_no_route_is_404_before_any_authorization(base, fake_lambda):
    assert call("GET", f"{base}/nope") == (404, {"message": "Not Found"})
    assert call("GET", f"{base}/actions/a/b") == (404, {"message": "Not Found"})
    assert call("PUT", f"{base}/actions") == (404, {"message": "Not Found"})
    assert fake_lambda.invocations == []


def test_route_precedence_rules():
    routes = [{"method": m, "path": p, "function": f"{m} {p}"} for m, p in (
        ("ANY", "/{proxy+}"), ("GET", "/pets/{proxy+}"), ("GET", "/pets/dog/{id}"),
        ("GET", "/pets/dog/1"), ("ANY", "/pets/dog/1"), ("GET", "/pets/{kind}/1"))]

    def chosen(method, path):
        matched = gateway.match_route(routes, method, path)
        return matched and matched[0]["function"]
    assert chosen("GET", "/pets/dog/1") == "GET /pets/dog/1"
    assert chosen("POST", "/pets/dog/1") == "ANY /pets/dog/1"
    assert chosen("GET", "/pets/dog/2") == "GET /pets/dog/{id}"
    assert chosen("GET", "/pets/cat/1") == "GET /pets/{kind}/1"
    assert chosen("GET", "/pets/cat/2") == "GET /pets/{proxy+}"
    assert chosen("POST", "/pets/cat/2") == "ANY /{proxy+}"


def test_the_gateway_refuses_routes_with_authorizers_it_cannot_enforce(fake_lambda):
    with pytest.raises(SystemExit, match="JWT"):
        gateway.make_server(0, [{"method": "GET", "path": "/x", "function": "f", "auth": "JWT"}],
                            fake_lambda.url)


# ---- the verifier on its own -----------------------------------------------------------

def test_verifier_matches_the_aws_sigv4_test_suite_get_vanilla():
    # AWS's SigV4 test suite, "get-vanilla": service "service", us-east-1, 20150830T123600Z.
    creds = sigv4.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    auth = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z"), ("Authorization", auth)]
    now = datetime(2015, 8, 30, 12, 37, tzinfo=timezone.utc)
    assert sigv4.verify("GET", "/", "", headers, b"", credentials=creds, region="us-east-1",
                        service="service", now=now) == "AKIDEXAMPLE"


def test_canonical_forms():
    assert sigv4.canonical_uri("") == "/"
    assert sigv4.canonical_uri("/a/./b//c/../d") == "/a/b/d"
    assert sigv4.canonical_uri("/a%2Fb/c d") == "/a%252Fb/c%20d"
    assert sigv4.canonical_query("b=2&a=%7e&a=1&c") == "a=1&a=~&b=2&c="
    assert sigv4.canonical_query("q=a b&r=x%2By") == "q=a%20b&r=x%2By"


def test_credentials_argument():
    assert sigv4.Credentials.parse("local:local") == sigv4.Credentials("local", "local", None)
    assert sigv4.Credentials.parse("AK:S/K+:tok:en") == sigv4.Credentials("AK", "S/K+", "tok:en")
    with pytest.raises(ValueError):
        sigv4.Credentials.parse("local")


# ---- gateway.py as the stack runs it -----------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gateway_process_takes_credentials_and_region_arguments(tmp_path, fake_lambda):
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    port = free_port()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "port taken before the gateway started"
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CREDENTIALS"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "gateway.py"), "--port", str(port),
                             "--routes", str(routes), "--lambda-url", fake_lambda.url,
                             "--credentials", "AKIDTEST:sekrit", "--region", "eu-central-1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pid = proc.pid
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "gateway did not listen"
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        status, answer = signed_call("GET", f"{base}/actions/x", key="AKIDTEST", secret="sekrit",
                                     region="eu-central-1")
        assert status == 200, answer
        assert answer["event"]["requestContext"]["authorizer"]["iam"]["accessKey"] == "AKIDTEST"
        assert signed_call("GET", f"{base}/actions/x")[0] == 403  # local:local is not accepted here
    finally:
        os.kill(pid, 15)
        proc.wait(timeout=10)
        proc.stderr.close()


def test_a_burst_of_hundreds_of_connections_is_served_not_reset(base):
    """300 clients connect at the same moment, as Okta's deliveries and a burst do: every
    one gets its answer (the standard library's backlog of 5 reset most of them)."""
    host, port = base.removeprefix("http://").split(":")
    clients = 300
    barrier = threading.Barrier(clients)
    answers: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client():
        barrier.wait()
        try:
            with socket.create_connection((host, int(port)), timeout=30) as s:
                s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            with lock:
                answers.append(data.split(b" ", 2)[1].decode())
        except OSError as e:
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert answers == ["404"] * clients
