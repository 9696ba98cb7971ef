#!/usr/bin/env python3
"""The hook under load, on the local stack (loopback only): N concurrent deliveries of E
events each, plus a second copy of a fifth of them sent at the same moment (Okta's
redeliveries), every one retried once on a 503 or a timeout as Okta does. Then checks
what the product promises: every event of a delivery answered 200 is exactly one job, no
event is two, no connection is refused or reset, no answer is a 5xx other than 503 (a
503 tells Okta to retry, and the poller finds the events in the System Log). It reports
the answer times beside moto's own time for the same writes (conditional PutItems, 25
in flight, as intake makes them): moto serves one request at a time, so its time for
the whole burst is the floor of any answer time on this stack.

    tools/hook_load.py [--deliveries 200] [--events 100] [--duplicates 0.2]

Writes the report to .local/bench-hook.md; exit 1 when a promise was broken.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import copy
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
FIXTURE = ROOT / "tests" / "fixtures" / "deactivate.json"


def stack_env() -> dict[str, str]:
    env = {}
    for line in (LOCAL / "stack.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v.strip("'\"")
    return env


def delivery(events: int) -> tuple[bytes, list[tuple[str, str]]]:
    """A body of `events` fresh deactivations, and their (user, uuid) pairs."""
    body = json.loads(FIXTURE.read_text())
    one = body["data"]["events"][0]
    body["eventId"] = str(uuid.uuid4())
    listed, pairs = [], []
    for _ in range(events):
        e = copy.deepcopy(one)
        e["uuid"] = str(uuid.uuid4())
        user = "00u" + uuid.uuid4().hex[:17]
        for t in e["target"]:
            if t["type"] == "User":
                t["id"] = user
        listed.append(e)
        pairs.append((user, e["uuid"]))
    body["data"]["events"] = listed
    return json.dumps(body).encode(), pairs


def post(url: urllib.parse.ParseResult, header: str, secret: str, body: bytes) -> tuple[int | str, float]:
    """One delivery as Okta makes it: a 3 s budget (we allow 30 to measure), one retry on
    a 503 or a timeout. The status (or the connection error) and the seconds taken."""
    started = time.perf_counter()
    status: int | str = "none"
    for attempt in range(2):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            conn.request("POST", url.path, body, {header: secret, "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except TimeoutError:
            status = "timeout"
        except OSError as e:  # refused, reset: what the stand-ins must not do
            return type(e).__name__, time.perf_counter() - started
        finally:
            conn.close()
        if status not in (503, "timeout") or attempt == 1:
            break
    return status, time.perf_counter() - started


def moto_writes(env: dict[str, str], events: int, samples: int) -> list[float]:
    """Seconds for `events` conditional PutItems with 25 in flight, `samples` times."""
    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    table = env["TABLE_NAME"]

    def put(_: int) -> None:
        user, event = "00ubench" + uuid.uuid4().hex[:12], str(uuid.uuid4())
        ddb.put_item(TableName=table, ConditionExpression="attribute_not_exists(pk)", Item={
            "pk": {"S": f"BENCH#{user}"}, "sk": {"S": f"JOB#2026-12-02T00:00:00.000Z#{event}"},
            "kind": {"S": "bench"}, "status": {"S": "pending"}, "event_uuid": {"S": event}})

    times = []
    with cf.ThreadPoolExecutor(25) as pool:
        list(pool.map(put, range(25)))  # connections open
        for _ in range(samples):
            started = time.perf_counter()
            list(pool.map(put, range(events)))
            times.append(time.perf_counter() - started)
    return times


def jobs_per_event(env: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, int]:
    """How many jobs each event's user has (every user is fresh: one event each)."""
    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])

    def count(pair: tuple[str, str]) -> tuple[str, int]:
        user, event = pair
        out = ddb.query(TableName=env["TABLE_NAME"], KeyConditionExpression="pk = :p AND begins_with(sk, :j)",
                        ExpressionAttributeValues={":p": {"S": f"USER#{user}"}, ":j": {"S": "JOB#"}},
                        Select="COUNT", ConsistentRead=True)
        return event, out["Count"]

    with cf.ThreadPoolExecutor(16) as pool:
        return dict(pool.map(count, pairs))


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 100)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--duplicates", type=float, default=0.2)
    args = parser.parse_args()
    env = stack_env()
    url = urllib.parse.urlparse(env["HOOK_URL"])
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"load goes to loopback only, not {url.hostname}")
    bodies, pairs, of_body = [], [], []
    for _ in range(args.deliveries):
        body, these = delivery(args.events)
        bodies.append(body)
        of_body.append(these)
        pairs.extend(these)
    sends = bodies + bodies[: int(len(bodies) * args.duplicates)]
    barrier = threading.Barrier(len(sends))

    def send(body: bytes):
        barrier.wait()
        return post(url, env["HOOK_AUTH_HEADER"], env["HOOK_SECRET"], body)

    started = time.perf_counter()
    with cf.ThreadPoolExecutor(len(sends)) as pool:
        results = list(pool.map(send, sends))
    wall = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    times = [t for _, t in results]
    counts = jobs_per_event(env, pairs)
    answered = {i % len(bodies) for i, (status, _) in enumerate(results) if status == 200}
    promised = [uuid for i in answered for _, uuid in of_body[i]]
    lost = sum(1 for u in promised if counts[u] != 1)
    unwritten = sum(1 for c in counts.values() if c == 0)
    doubled = sum(1 for c in counts.values() if c > 1)
    within_okta = sum(1 for status, t in results if status == 200 and t <= 3.0)
    moto = moto_writes(env, args.events, 20)
    floor = statistics.median(moto) * len(sends)
    bad = {s: n for s, n in statuses.items() if s not in ("200", "503", "timeout")}
    lines = [
        f"# The hook under load ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"{args.deliveries} deliveries of {args.events} events at once, plus {len(sends) - len(bodies)} "
        f"second copies; each retried once on a 503 or a timeout, as Okta does.",
        "",
        "| what | measured |",
        "|---|--:|",
        f"| answers by status | {', '.join(f'{s}: {n}' for s, n in sorted(statuses.items()))} |",
        f"| events | {len(pairs)} |",
        f"| events of deliveries answered 200 / of them not exactly one job | {len(promised)} / {lost} |",
        f"| events with no job (their delivery was told to retry) / with more than one | {unwritten} / {doubled} |",
        f"| deliveries answered 200 within Okta's 3 s | {within_okta} of {len(sends)} |",
        f"| answer time p50 / p99 / max | {percentile(times, 50):.2f} / {percentile(times, 99):.2f} / {max(times):.2f} s |",
        f"| wall time for the burst | {wall:.1f} s |",
        f"| moto alone, the same {args.events} conditional PutItems (25 in flight), p50 / p99 | "
        f"{statistics.median(moto):.2f} / {percentile(moto, 99):.2f} s |",
        f"| moto alone, every write of the burst one after another (its floor) | {floor:.1f} s |",
    ]
    report = "\n".join(lines) + "\n"
    LOCAL.mkdir(exist_ok=True)
    (LOCAL / "bench-hook.md").write_text(report)
    print(report)
    failed = lost or doubled or bad
    if failed:
        print(f"FAILED: {lost} events of 200 answers not one job, {doubled} doubled, "
              f"unexpected answers {bad}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
