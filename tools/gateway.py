#!/usr/bin/env python3
"""A local stand-in for API Gateway's HTTP API (payload format 2.0).

It matches each request against the routes of infra/template.yaml the way API Gateway
picks the most specific route: an exact path before one with `{param}` variables before
one with a greedy `{proxy+}`, literal segments before variables left to right, and a
method route before ANY. On a route whose authorizer is AWS_IAM it verifies the caller's
SigV4 signature (tools/sigv4.py) against the credentials the local stack hands out and
answers 403 without invoking anything if it does not hold. It then builds the 2.0 event
API Gateway would send (`pathParameters`, and `requestContext.authorizer.iam` for a
signed caller), invokes the function through the Lambda invoke API of
`cargo lambda watch`, and turns the function's answer back into HTTP. What API Gateway
itself answers, it answers the same way: 404 `{"message":"Not Found"}` for no route,
403 `{"message":"Forbidden"}` (or AWS's SigV4 error) for a request an IAM route refuses,
413 past 10 MB, 500 for a function error, 503 on integration timeout.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import sigv4

MAX_BODY = 10 * 1024 * 1024
INTEGRATION_TIMEOUT = 30
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")
ACCOUNT_ID = "000000000000"
# The IAM user the local credentials stand for, as API Gateway describes a signed caller.
LOCAL_USER_ID = "AIDALOCAL000000000000"
LOCAL_USER_ARN = f"arn:aws:iam::{ACCOUNT_ID}:user/local"
DEFAULT_CREDENTIALS = "local:local"  # what tools/stack.py hands out (AWS_ENV)
AUTHORIZERS = (None, "AWS_IAM")


def _specificity(path: str) -> tuple:
    """Sorts routes most specific first: exact, then with variables, then greedy; within
    those, literal segments before variables, left to right."""
    ranks = tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in path.split("/")[1:])
    return (max(ranks, default=0), ranks)


def _match_path(template: str, raw_path: str) -> dict[str, str] | None:
    """The (decoded) path parameters if the request path fits the route's path, else None."""
    want, got = template.split("/")[1:], raw_path.split("/")[1:]
    params: dict[str, str] = {}
    for i, segment in enumerate(want):
        if segment.startswith("{") and segment.endswith("+}"):  # greedy: the rest, at least one segment
            rest = "/".join(got[i:])
            if not rest:
                return None
            params[segment[1:-2]] = unquote(rest)
            return params
        if i >= len(got):
            return None
        if segment.startswith("{") and segment.endswith("}"):
            if not got[i]:
                return None
            params[segment[1:-1]] = unquote(got[i])
        elif unquote(got[i]) != segment:
            return None
    return params if len(got) == len(want) else None


def match_route(routes: list[dict], method: str, raw_path: str) -> tuple[dict, dict[str, str]] | None:
    """API Gateway's choice among the routes that fit: most specific path, then a method
    route over ANY."""
    best = None
    for route in routes:
        if route["method"] not in (method, "ANY"):
            continue
        params = _match_path(route["path"], raw_path)
        if params is None:
            continue
        key = (_specificity(route["path"]), route["method"] == "ANY")
        if best is None or key < best[0]:
            best = (key, route, params)
    return (best[1], best[2]) if best else None


class Gateway(BaseHTTPRequestHandler):
    routes: list[dict] = []
    lambda_url = ""
    credentials = sigv4.Credentials.parse(DEFAULT_CREDENTIALS)
    region = "us-east-1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one JSON line per request, like access logs
        pass

    def _authorize(self, route: dict, url, body: bytes) -> dict | None:
        """requestContext.authorizer for the route's authorizer; raises sigv4.Rejected."""
        if route.get("auth") != "AWS_IAM":
            return None
        access_key = sigv4.verify(self.command, url.path, url.query, list(self.headers.items()), body,
                                  credentials=self.credentials, region=self.region)
        return {"iam": {"accessKey": access_key, "accountId": ACCOUNT_ID, "callerId": LOCAL_USER_ID,
                        "cognitoIdentity": None, "principalOrgId": None, "userArn": LOCAL_USER_ARN,
                        "userId": LOCAL_USER_ID}}

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None):
        self.send_response(status)
        headers = {"content-type": "application/json", **(headers or {})}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.send_header("apigw-requestid", self.request_id)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        self.request_id = uuid.uuid4().hex[:16]
        started = time.monotonic()
        status = self._dispatch()
        print(json.dumps({"requestId": self.request_id, "method": self.command, "path": self.path,
                          "status": status, "latencyMs": round((time.monotonic() - started) * 1000, 2)}),
              flush=True)

    def _dispatch(self) -> int:
        url = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self._reply(413, b'{"message":"Request Entity Too Large"}', {"connection": "close"})
            return 413
        body = self.rfile.read(length) if length else b""
        matched = match_route(self.routes, self.command, url.path)
        if matched is None:
            self._reply(404, b'{"message":"Not Found"}')
            return 404
        route, path_params = matched
        try:
            authorizer = self._authorize(route, url, body)
        except sigv4.Rejected as e:
            self._reply(403, json.dumps({"message": e.message}, separators=(",", ":")).encode())
            return 403

        headers: dict[str, str] = {}
        for k, v in self.headers.items():  # repeated headers are joined with commas
            k = k.lower()
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        content_type = headers.get("content-type", "")
        is_text = not body or content_type.startswith(TEXT_TYPES)
        if is_text:
            try:
                body_field, b64 = body.decode("utf-8"), False
            except UnicodeDecodeError:
                body_field, b64 = base64.b64encode(body).decode(), True
        else:
            body_field, b64 = base64.b64encode(body).decode(), True
        now = time.time()
        route_key = f"{route['method']} {route['path']}"
        event = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": url.path,
            "rawQueryString": url.query,
            "headers": headers,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "local",
                "domainName": headers.get("host", "localhost"),
                "domainPrefix": headers.get("host", "localhost").split(".")[0],
                "http": {"method": self.command, "path": url.path, "protocol": self.request_version,
                         "sourceIp": self.client_address[0], "userAgent": headers.get("user-agent", "")},
                "requestId": self.request_id,
                "routeKey": route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": b64,
        }
        if authorizer is not None:
            event["requestContext"]["authorizer"] = authorizer
        if path_params:
            event["pathParameters"] = path_params
        if url.query:  # repeated parameters are joined with commas
            query: dict[str, str] = {}
            for k, v in parse_qsl(url.query, keep_blank_values=True):
                query[k] = f"{query[k]},{v}" if k in query else v
            event["queryStringParameters"] = query
        if body:
            event["body"] = body_field

        req = urllib.request.Request(
            f"{self.lambda_url}/2015-03-31/functions/{route['function']}/invocations",
            data=json.dumps(event).encode(), method="POST",
            headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=INTEGRATION_TIMEOUT) as resp:
                function_error = resp.headers.get("x-amz-function-error")
                raw = resp.read()
        except urllib.error.HTTPError:
            function_error, raw = "Unhandled", b""
        except (TimeoutError, urllib.error.URLError):
            self._reply(503, b'{"message":"Service Unavailable"}')
            return 503
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if function_error or not isinstance(answer, dict) or "statusCode" not in answer:
            self._reply(500, b'{"message":"Internal Server Error"}')
            return 500
        out = answer.get("body") or ""
        out = base64.b64decode(out) if answer.get("isBase64Encoded") else out.encode()
        status = int(answer["statusCode"])
        self._reply(status, out, {k.lower(): str(v) for k, v in (answer.get("headers") or {}).items()})
        return status

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class GatewayServer(ThreadingHTTPServer):
    """A thread per connection and a listen backlog for a burst of hundreds of
    connections at once, as API Gateway takes them (the standard library's default
    backlog of 5 resets connections beyond it)."""
    request_queue_size = 1024
    daemon_threads = True


def make_server(port: int, routes: list[dict], lambda_url: str, *,
                credentials: sigv4.Credentials | None = None, region: str = "us-east-1",
                host: str = "127.0.0.1") -> "GatewayServer":
    """A gateway for `routes` (template.routes() output) on host:port (0: any free port)."""
    unknown = sorted({str(r.get("auth")) for r in routes if r.get("auth") not in AUTHORIZERS})
    if unknown:
        raise SystemExit(f"routes with authorizers the gateway cannot enforce: {unknown}")
    handler = type("BoundGateway", (Gateway,), {
        "routes": routes, "lambda_url": lambda_url.rstrip("/"), "region": region,
        "credentials": credentials or sigv4.Credentials.parse(DEFAULT_CREDENTIALS)})
    return GatewayServer((host, port), handler)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", required=True)
    parser.add_argument("--lambda-url", required=True)
    parser.add_argument("--credentials", type=sigv4.Credentials.parse,
                        default=os.environ.get("GATEWAY_CREDENTIALS", DEFAULT_CREDENTIALS),
                        help="ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN] that AWS_IAM routes accept "
                             f"(default $GATEWAY_CREDENTIALS, else {DEFAULT_CREDENTIALS}: the local stack's)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"),
                        help="the region signatures must be scoped to (default $AWS_REGION or us-east-1)")
    args = parser.parse_args()
    with open(args.routes) as f:
        routes = json.load(f)
    make_server(args.port, routes, args.lambda_url, credentials=args.credentials,
                region=args.region).serve_forever()


if __name__ == "__main__":
    main()
