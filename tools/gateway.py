#!/usr/bin/env python3
"""A local stand-in for API Gateway's HTTP API (payload format 2.0).

It matches each request against the routes of infra/template.yaml (method + path, a
method route winning over ANY), builds the 2.0 event API Gateway would send, invokes the
function through the Lambda invoke API of `cargo lambda watch`, and turns the function's
answer back into HTTP. What API Gateway itself answers, it answers the same way:
404 `{"message":"Not Found"}` for no route, 413 past 10 MB, 500 for a function error,
503 on integration timeout.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 10 * 1024 * 1024
INTEGRATION_TIMEOUT = 30
TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")


class Gateway(BaseHTTPRequestHandler):
    routes: list[dict] = []
    lambda_url = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one JSON line per request, like access logs
        pass

    def _route(self, method: str, path: str) -> dict | None:
        exact = [r for r in self.routes if r["path"] == path and r["method"] == method]
        if exact:
            return exact[0]
        anys = [r for r in self.routes if r["path"] == path and r["method"] == "ANY"]
        return anys[0] if anys else None

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
        route = self._route(self.command, url.path)
        if route is None:
            self._reply(404, b'{"message":"Not Found"}')
            return 404

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
        if url.query:
            event["queryStringParameters"] = dict(parse_qsl(url.query, keep_blank_values=True))
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", required=True)
    parser.add_argument("--lambda-url", required=True)
    args = parser.parse_args()
    Gateway.routes = json.load(open(args.routes))
    Gateway.lambda_url = args.lambda_url.rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Gateway)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
