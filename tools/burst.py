#!/usr/bin/env python3
"""A burst against the running local stack (`make up`): one Okta-style delivery of N
deactivations (default 20) of users Okta no longer knows, then the time until every job
is finished, and each job's `elapsed_ms` as the deprovision function logged it.

An observation of the local stack, not a benchmark: moto, the simulator and the
functions share the machine. Usage: .venv/bin/python tools/burst.py [N]
"""

from __future__ import annotations

import copy
import json
import shlex
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: shlex.split(v)[0] if v else "" for k, v in
       (line.split("=", 1) for line in (ROOT / ".local" / "stack.env").read_text().splitlines() if "=" in line)}
BUSY = ("pending", "running", "retrying")


def delivery(n: int) -> tuple[dict, list[str]]:
    body = json.loads((ROOT / "tests" / "fixtures" / "deactivate.json").read_text())
    template = body["data"]["events"][0]
    events, users = [], []
    for i in range(n):
        event = copy.deepcopy(template)
        event["uuid"] = str(uuid.uuid4())
        user = "00ub" + uuid.uuid4().hex[:16]
        for target in event["target"]:
            if target["type"] == "User":
                target["id"], target["alternateId"] = user, f"burst{i}-{user}@example.com"
        events.append(event)
        users.append(user)
    body["data"]["events"] = events
    return body, users


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    body, users = delivery(n)
    ddb = boto3.client("dynamodb", endpoint_url=ENV["AWS_ENDPOINT_URL"], region_name=ENV["AWS_REGION"],
                       aws_access_key_id="local", aws_secret_access_key="local")
    request = urllib.request.Request(ENV["HOOK_URL"], data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              ENV["HOOK_AUTH_HEADER"]: ENV["HOOK_SECRET"]})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as resp:
        print(f"delivery of {n} events: {resp.read().decode()}")
    jobs: dict[str, dict] = {}
    while len(jobs) < n and time.monotonic() - started < 300:
        for user in users:
            if user in jobs:
                continue
            items = ddb.query(TableName=ENV["TABLE_NAME"], ConsistentRead=True,
                              KeyConditionExpression="pk = :p AND begins_with(sk, :j)",
                              ExpressionAttributeValues={":p": {"S": f"USER#{user}"}, ":j": {"S": "JOB#"}})["Items"]
            if items and items[0]["status"]["S"] not in BUSY:
                jobs[user] = items[0]
        time.sleep(0.2)
    took = time.monotonic() - started
    statuses = sorted({j["status"]["S"] for j in jobs.values()})
    print(f"{len(jobs)}/{n} jobs finished ({', '.join(statuses)}) {took:.1f} s after the delivery")
    elapsed = []
    log = ROOT / ".local" / "logs" / "lambda.log"
    for line in log.read_text(errors="replace").splitlines():
        if '"job handled"' in line and any(u in line for u in users):
            elapsed.append(json.loads(line)["fields"]["elapsed_ms"])
    if elapsed:
        print(f"per job (elapsed_ms): min {min(elapsed)}, median {statistics.median(elapsed):.0f}, "
              f"max {max(elapsed)} (n={len(elapsed)})")


if __name__ == "__main__":
    main()
