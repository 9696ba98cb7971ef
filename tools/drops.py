#!/usr/bin/env python3
"""The local stand-in for S3's EventBridge notifications and Lambda's asynchronous
invocation: watches the sync bucket in moto and, for every new object version, invokes
the sync function through `cargo lambda watch` with the `Object Created` event that
EventBridge would deliver, when it matches the rule's pattern in infra/template.yaml.

What it reproduces: one event per new object version (EventBridge's key is plain text,
not form-encoded); the rule's pattern (bucket and key prefix); a function error is
retried `MaximumRetryAttempts` times (Lambda waits about a minute, then two; here
`--retry-delay` seconds, doubling), then one message describing the event goes to the
`OnFailure` SQS queue. Events already in the bucket when it starts are not sent.
One line per invocation goes to stderr.

    drops.py --lambda-url URL --bucket NAME --dlq-url URL [--template PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from streams import http_invoker, log_line, pattern_matches  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.5


def object_created(bucket: str, version: dict, region: str) -> dict:
    """The event EventBridge delivers for a new object version."""
    detail = {"version": "0", "bucket": {"name": bucket},
              "object": {"key": version["Key"], "size": version.get("Size", 0),
                         "etag": version.get("ETag", "").strip('"')},
              "request-id": uuid.uuid4().hex[:16].upper(), "requester": "000000000000",
              "reason": "PutObject"}
    if version.get("VersionId") and version["VersionId"] != "null":
        detail["object"]["version-id"] = version["VersionId"]
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created",
            "source": "aws.s3", "account": "000000000000",
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region, "resources": [f"arn:aws:s3:::{bucket}"], "detail": detail}


def new_versions(listing: list[dict], seen: set[tuple[str, str]]) -> list[dict]:
    """The versions of `listing` not in `seen` (which they join), oldest first."""
    fresh = [v for v in listing if (v["Key"], v.get("VersionId", "null")) not in seen]
    for v in fresh:
        seen.add((v["Key"], v.get("VersionId", "null")))
    return sorted(fresh, key=lambda v: v.get("LastModified", ""))


def deliver(event: dict, invoke, retries: int, delay: float, dead_letter,
            running: threading.Lock | None = None) -> None:
    """One asynchronous invocation: retried on a function error, then dead-lettered.
    `running`, when given, is held while the function runs: its reserved concurrency."""
    for attempt in range(retries + 1):
        started = time.monotonic()
        if running is None:
            result = invoke(event)
        else:
            with running:
                result = invoke(event)
        log_line({"outcome": "error" if result.error else "ok", "attempt": attempt + 1,
                  "key": event["detail"]["object"]["key"], "error": result.error,
                  "seconds": round(time.monotonic() - started, 3)})
        if not result.error:
            return
        if attempt < retries:
            time.sleep(delay * (2 ** attempt))
    dead_letter({"requestContext": {"condition": "RetriesExhausted",
                                    "approximateInvokeCount": retries + 1},
                 "requestPayload": event, "responseContext": {"functionError": result.error}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambda-url", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--dlq-url", required=True)
    parser.add_argument("--retry-delay", type=float, default=2.0)
    parser.add_argument("--template", default=str(ROOT / "infra" / "template.yaml"))
    args = parser.parse_args()

    import boto3
    from template import Template

    rule = Template(Path(args.template)).s3_drop_rule()
    pattern = json.loads(json.dumps(rule["pattern"]))
    pattern["detail"]["bucket"]["name"] = [args.bucket]
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    region = boto3.session.Session().region_name or "us-east-1"
    invoke = http_invoker(args.lambda_url, rule["function"], rule["timeout"] + 5, False)

    def dead_letter(message: dict) -> None:
        sqs.send_message(QueueUrl=args.dlq_url, MessageBody=json.dumps(message))

    def listing() -> list[dict]:
        versions, marker = [], {}
        while True:
            page = s3.list_object_versions(Bucket=args.bucket, **marker)
            versions += page.get("Versions", [])
            if not page.get("IsTruncated"):
                return versions
            marker = {"KeyMarker": page["NextKeyMarker"],
                      "VersionIdMarker": page.get("NextVersionIdMarker", "")}

    # ReservedConcurrentExecutions: 1 in the template: one drop runs at a time.
    running = threading.Lock() if rule["reserved_concurrency"] == 1 else None
    seen: set[tuple[str, str]] = set()
    new_versions(listing(), seen)
    log_line({"outcome": "start", "function": rule["function"], "bucket": args.bucket})
    while True:
        try:
            for version in new_versions(listing(), seen):
                event = object_created(args.bucket, version, region)
                if pattern_matches(pattern, event):
                    # Lambda runs asynchronous invocations apart; the function's reserved
                    # concurrency is what serialises them.
                    threading.Thread(target=deliver, daemon=True, args=(
                        event, invoke, rule["max_retries"], args.retry_delay, dead_letter, running)).start()
        except Exception as e:  # moto restarting, a listing error: the next poll tries again
            log_line({"outcome": "list-error", "error": str(e)[:300]})
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
