#!/usr/bin/env python3
"""The local stand-in for the EventBridge schedule: invokes a function through
`cargo lambda watch`'s invoke API every N seconds with a scheduled event, and prints
one JSON line per tick with what the function answered."""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
import uuid
from datetime import datetime, timezone


def scheduled_event(function: str) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{function}-tick"],
        "detail": {},
    }


def invoke(lambda_url: str, function: str, timeout: float) -> dict:
    req = urllib.request.Request(
        f"{lambda_url}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(scheduled_event(function)).encode(), method="POST",
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambda-url", required=True)
    parser.add_argument("--function", required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--once", action="store_true", help="one tick, then exit")
    args = parser.parse_args()
    while True:
        started = time.monotonic()
        try:
            answer = invoke(args.lambda_url, args.function, timeout=max(args.interval, 90))
        except Exception as e:  # a failed tick is reported; the next one comes anyway
            answer = {"error": str(e)}
        print(json.dumps({"function": args.function, "ms": round((time.monotonic() - started) * 1000),
                          "answer": answer}), flush=True)
        if args.once:
            return
        time.sleep(max(0.0, args.interval - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
