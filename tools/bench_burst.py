#!/usr/bin/env python3
"""The leaver path at Okta's rate limits, on the running local stack (loopback only):
N people (default 1,000), each in three Okta groups, with a signed-in session, a SCIM
account and the webhook receiver, all deactivated through Okta's API within a minute, so
the event hook delivers them in Okta's batches, and the time until every job is `done`.

The simulator's limits are Okta's published per-minute figures for an Enterprise org
(tools/bench_sync.py's table), times `--scale`: a scale multiplies every limit and
divides the bound, so 10,000 people fit in minutes while the ratio keeps its meaning.
The driver's own calls (seeding, the deactivations, the checks) carry the simulator's
`X-Okta-Sim-Unmetered` header: in Okta they would be an admin's, under another token.

What it reports (also into .local/bench-burst.md):
- the time from the first deactivation to the last job's `finished_at`, and the bound:
  for each rate-limit family, the calls the jobs must make (per leaver: the user read
  again and their groups listed, `users`; one membership removal per group, `groups`;
  the sessions ended, `sessions`) divided by the share of its limit the functions may
  use (80%: `OKTA_RATE_RESERVE_PERCENT` leaves 20% to the org's other integrations);
  the largest is the bound, and the ratio of the time to it (goal: at most 1.2);
- the Okta calls the run made per family beside those it must make, and the 429s in
  each minute's window (goal: none after the first in a window);
- the table's calls and write units per job (moto counts them when the stack is started
  with MOTO_CALL_COUNTS, as `make bench-burst` does), by operation and kind of item;
- the loss check, per person: Okta groups gone but Everyone, the SCIM account inactive,
  exactly one accepted and verified webhook, exactly one job and it `done`, the audit
  trail complete (snapshot, plan, each membership removal, the sessions, the SCIM
  account, the webhook, `job.done` last).

    bench_burst.py [--users N] [--scale S]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import statistics
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import bench_sync
from bench_sync import ENTERPRISE, LOCAL, RESERVE

GROUPS = 3
DRIVER_THREADS = 16
RUN_TIMEOUT = 3600.0
CALL_COUNTS = LOCAL / "moto-calls.json"
# What a job must ask Okta, per leaver, by family (see the module's docstring).
REQUIRED_PER_JOB = {"users": 2, "groups": GROUPS, "sessions": 1}


def log(msg: str) -> None:
    print(f"[bench-burst] {msg}", file=sys.stderr, flush=True)


class Okta(bench_sync.Okta):
    """The simulator's API as the driver uses it: outside the limits it measures."""

    def call(self, method: str, path: str, body=None):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"SSWS {self.token}",
                                              "Accept": "application/json",
                                              "Content-Type": "application/json",
                                              "X-Okta-Sim-Unmetered": "1"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
            return json.loads(data) if data.strip() else None


def http_json(url: str, method: str = "GET", body=None, headers=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Accept": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=30) as resp:
        data = resp.read()
        return json.loads(data) if data.strip() else None


def aws_clients(env: dict[str, str]):
    import boto3
    aws = {"endpoint_url": env["AWS_ENDPOINT_URL"], "region_name": env["AWS_REGION"],
           "aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}
    return boto3.client("dynamodb", **aws)


def seed(okta: Okta, env: dict[str, str], users: int, stamp: str, groups: list[dict]) -> list[dict]:
    """N people, created STAGED (an activation would be an event of its own), each in
    every group, with one session and a SCIM account; their ids and logins."""
    scim_headers = {"Content-Type": "application/scim+json", "Authorization": f"Bearer {env['SCIM_TOKEN']}"}

    def one(i: int) -> dict:
        login = f"burst-{stamp}-{i:05d}@example.com"
        user = okta.call("POST", "/api/v1/users?activate=false", {
            "profile": {"login": login, "email": login, "firstName": "Burst", "lastName": f"L{i:05d}"},
            "groupIds": [g["id"] for g in groups]})
        okta.call("POST", f"/_sim/users/{user['id']}/sessions", {"sessions": 1, "oauthTokens": 0})
        http_json(f"{env['SCIM_URL']}/Users", "POST", {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": login,
            "externalId": user["id"], "name": {"givenName": "Burst", "familyName": f"L{i:05d}"},
            "emails": [{"value": login, "primary": True}], "active": True}, scim_headers)
        return {"id": user["id"], "login": login}

    with concurrent.futures.ThreadPoolExecutor(DRIVER_THREADS) as pool:
        return list(pool.map(one, range(users)))


def call_counts() -> dict:
    try:
        return json.loads(CALL_COUNTS.read_text())
    except (OSError, ValueError):
        return {}


def counts_between(before: dict, after: dict, section: str) -> dict:
    out = {}
    for name, value in (after.get(section) or {}).items():
        old = (before.get(section) or {}).get(name)
        if isinstance(value, dict):
            delta = {k: v - (old or {}).get(k, 0) for k, v in value.items()}
            if any(delta.values()):
                out[name] = delta
        elif value - (old or 0):
            out[name] = value - (old or 0)
    return out


def unsettled(ddb, table: str) -> dict[str, int]:
    """Jobs listed in the attention index under a status still to run."""
    out = {}
    for status in ("pending", "running", "retrying", "held", "failed"):
        answer = ddb.query(TableName=table, IndexName="attention", Select="COUNT",
                           KeyConditionExpression="attention = :s",
                           ExpressionAttributeValues={":s": {"S": status}})
        out[status] = answer["Count"]
    return out


def job_statuses(ddb, env: dict[str, str], user: str) -> list[str]:
    jobs = ddb.query(TableName=env["TABLE_NAME"], ConsistentRead=True, ProjectionExpression="#s",
                     ExpressionAttributeNames={"#s": "status"},
                     KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
                     ExpressionAttributeValues={":pk": {"S": f"USER#{user}"}, ":sk": {"S": "JOB#"}})["Items"]
    return [j["status"]["S"] for j in jobs]


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def check_person(okta: Okta, env: dict[str, str], ddb, person: dict, webhooks: dict[str, list]) -> dict:
    """One person's loss check, and their job's times."""
    problems = []
    names = sorted(g["profile"]["name"] for g in okta.call("GET", f"/api/v1/users/{person['id']}/groups"))
    if names != ["Everyone"]:
        problems.append(f"groups {names}")
    quoted = urllib.parse.quote(f'userName eq "{person["login"]}"')
    scim = http_json(f"{env['SCIM_URL']}/Users?filter={quoted}",
                     headers={"Authorization": f"Bearer {env['SCIM_TOKEN']}"})
    accounts = scim.get("Resources") or []
    if len(accounts) != 1 or accounts[0].get("active") is not False:
        problems.append(f"SCIM {[a.get('active') for a in accounts]}")
    accepted = [d for d in webhooks.get(person["id"], []) if d["status"] == 200 and d["verified"]]
    if len(accepted) != 1:
        problems.append(f"{len(accepted)} accepted webhooks")
    key = {":pk": {"S": f"USER#{person['id']}"}, ":sk": {"S": "JOB#"}}
    jobs = ddb.query(TableName=env["TABLE_NAME"], ConsistentRead=True,
                     KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
                     ExpressionAttributeValues=key)["Items"]
    statuses = [j["status"]["S"] for j in jobs]
    if statuses != ["done"]:
        problems.append(f"jobs {statuses}")
    key[":sk"] = {"S": "AUDIT#"}
    audit_table = env.get("AUDIT_TABLE_NAME") or env["TABLE_NAME"]
    query = {"TableName": audit_table, "ConsistentRead": True,
             "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)", "ExpressionAttributeValues": key}
    lines = []
    while True:
        page = ddb.query(**query)
        lines += [f"{i['action']['S']} {i['outcome']['S']}" for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    # A run that failed part-way and ran again records its snapshot and plan again and
    # finds some steps already done: the trail holds every attempt, each step at least
    # once as done or already so, and one end.
    def count(prefix: str, outcomes=("done", "already")) -> int:
        return sum(1 for l in lines if l.startswith(prefix + " ") and l.rsplit(" ", 1)[1] in outcomes)
    for prefix, least in (("snapshot", 1), ("plan", 1), ("okta/remove_membership", GROUPS),
                          ("okta/end_sessions", 1)):
        if count(prefix, ("recorded", "replaced", "done", "already")) < least:
            problems.append(f"audit: {count(prefix)} × {prefix}")
    if lines.count("job.done done") != 1:
        problems.append(f"audit: {lines.count('job.done done')} × job.done")
    for prefix in ("scim:", "webhook:"):
        if sum(1 for l in lines if l.startswith(prefix) and l.rsplit(" ", 1)[1] in ("done", "already")) < 1:
            problems.append(f"audit: no {prefix}… step done")
    if not lines or lines[-1] != "job.done done":
        problems.append(f"audit: last line {lines[-1:] }")
    job = jobs[0] if len(jobs) == 1 else {}
    return {"problems": problems,
            "finished": parse_time(job["finished_at"]["S"]) if "finished_at" in job else None,
            "published": parse_time(job["published"]["S"]) if "published" in job else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--spread", type=float, default=55.0,
                        help="seconds the deactivations are spread over (default %(default)s: within a minute)")
    args = parser.parse_args()
    env = bench_sync.stack_env()
    okta = Okta(env)
    ddb = aws_clients(env)
    saved = okta.call("GET", "/_sim/rate-limits")
    limits = {k: max(1, int(v * args.scale)) for k, v in ENTERPRISE.items()}
    stamp = datetime.now(timezone.utc).strftime("%H%M%S")
    try:
        groups = [bench_sync.group(okta, f"Burst-{stamp}-{n}") for n in range(GROUPS)]
        started = time.monotonic()
        people = seed(okta, env, args.users, stamp, groups)
        log(f"seeded {len(people)} people in {time.monotonic() - started:.0f}s")
        # The run starts on a fresh window with the limits in force.
        bench_sync.next_window()
        okta.call("POST", "/_sim/rate-limits", limits)
        sim_before, table_before = okta.counters(), call_counts()
        t0 = time.time()
        # Evenly over the spread: an admin's bulk deactivation, as Okta would take it
        # (its own users limit is 600 a minute), hooked in Okta's batches as it goes.
        with concurrent.futures.ThreadPoolExecutor(DRIVER_THREADS) as pool:
            def deactivate(i: int) -> None:
                time.sleep(max(0.0, t0 + i * args.spread / len(people) - time.time()))
                okta.call("POST", f"/api/v1/users/{people[i]['id']}/lifecycle/deactivate?sendEmail=false")
            list(pool.map(deactivate, range(len(people))))
        deactivated = time.time() - t0
        log(f"{len(people)} deactivated in {deactivated:.1f}s")
        limited_by_window: dict[int, int] = {}
        last_limited = sim_before["rateLimited"]
        deadline = time.monotonic() + RUN_TIMEOUT
        remaining = {p["id"] for p in people}
        looked = 0.0
        while remaining:
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(remaining)} people without a done job after {RUN_TIMEOUT:.0f}s")
            counters = okta.counters()
            if counters["rateLimited"] > last_limited:
                window = int(time.time() // 60)
                limited_by_window[window] = limited_by_window.get(window, 0) + counters["rateLimited"] - last_limited
                last_limited = counters["rateLimited"]
            waiting = unsettled(ddb, env["TABLE_NAME"])
            busy = waiting["pending"] + waiting["running"] + waiting["retrying"]
            # Nothing running: either all is done, or some events are still to come (a
            # delivery Okta gave up on, which the poller finds in the System Log).
            if busy == 0 and time.monotonic() - looked > 10:
                looked = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(8) as pool:
                    done = list(pool.map(lambda u: (u, job_statuses(ddb, env, u) == ["done"]), sorted(remaining)))
                remaining -= {u for u, ok in done if ok}
                log(f"{len(remaining)} people still without a done job ({waiting})")
            time.sleep(1)
        sim_after, table_after = okta.counters(), call_counts()
    finally:
        okta.call("POST", "/_sim/rate-limits", saved)

    webhooks: dict[str, list] = {}
    for d in http_json(f"{env['WEBHOOK_RECEIVER_URL']}/_deliveries"):
        webhooks.setdefault(d["user_id"], []).append(d)
    with concurrent.futures.ThreadPoolExecutor(DRIVER_THREADS) as pool:
        checks = list(pool.map(lambda p: check_person(okta, env, ddb, p, webhooks), people))
    failed = [(p["login"], c["problems"]) for p, c in zip(people, checks) if c["problems"]]
    finished = [c["finished"] for c in checks if c["finished"]]
    to_removal = sorted(c["finished"] - c["published"] for c in checks if c["finished"] and c["published"])
    wall = max(finished) - t0 if finished else float("nan")

    calls = bench_sync.calls_between(sim_before, sim_after)
    required = {f: n * args.users for f, n in REQUIRED_PER_JOB.items()}
    bound, family = bench_sync.bound_seconds(required, limits)
    ratio = wall / bound if bound else float("nan")
    over = {w: n for w, n in limited_by_window.items() if n > 1}
    ops = counts_between(table_before, table_after, "ops")
    writes = counts_between(table_before, table_after, "writes")
    units = sum(w["units"] for w in writes.values())

    n = args.users
    lines = [
        f"## Leavers at Okta's limits ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"{n} people, each in {GROUPS} Okta groups with a session, a SCIM account and the webhook "
        f"receiver, deactivated through Okta's API evenly over {deactivated:.1f} s. The simulator's limits: "
        f"Okta's Enterprise figures × {args.scale} ({limits}); the functions may use "
        f"{1 - RESERVE:.0%} of each.",
        "",
        "| | figure |",
        "|---|--:|",
        f"| first deactivation to the last job done | {wall:.1f} s |",
        f"| bound ({family}: {required[family]} calls at {limits[family] * (1 - RESERVE):.0f}/min) | {bound:.1f} s |",
        f"| ratio (goal ≤ 1.2) | {ratio:.2f} {'met' if ratio <= 1.2 else 'NOT met'} |",
        f"| time to removal, per leaver: p50 / p95 / max | "
        f"{statistics.median(to_removal):.1f} / {to_removal[int(0.95 * (len(to_removal) - 1))]:.1f} / "
        f"{to_removal[-1]:.1f} s |" if to_removal else "| time to removal | - |",
        f"| 429s received (by minute) | {sim_after['rateLimited'] - sim_before['rateLimited']} "
        f"({', '.join(str(v) for _, v in sorted(limited_by_window.items())) or 'none'}); "
        f"{'goal met' if not over else 'NOT met: more than one in a window'} |",
        f"| hook deliveries (sim) | {sim_after['deliveries']['succeeded'] - sim_before['deliveries']['succeeded']} "
        f"succeeded, {sim_after['deliveries']['failed'] - sim_before['deliveries']['failed']} failed, "
        f"{sim_after['deliveries']['retries'] - sim_before['deliveries']['retries']} retried |",
        f"| loss check | {'every person: groups gone, SCIM inactive, one webhook, one done job, full trail' if not failed else f'{len(failed)} people fail it'} |",
        "",
        "Okta calls per leaver, by family (made / must make):",
        "",
        "| family | made | per leaver | must make per leaver |",
        "|---|--:|--:|--:|",
    ]
    for f in sorted(set(calls) | set(required)):
        lines.append(f"| {f} | {calls.get(f, 0)} | {calls.get(f, 0) / n:.2f} | {REQUIRED_PER_JOB.get(f, 0)} |")
    if ops:
        lines += ["", f"Table calls per leaver (everything the stack asked moto during the run, / {n}): "
                  f"{sum(ops.values()) / n:.1f} calls, {units / n:.1f} write units.", "",
                  "| table · operation · status | calls | per leaver |", "|---|--:|--:|"]
        for name, v in sorted(ops.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {name} | {v} | {v / n:.2f} |")
        lines += ["", "| table · written item | items | write units | units per leaver |", "|---|--:|--:|--:|"]
        for name, v in sorted(writes.items(), key=lambda kv: -kv[1]["units"]):
            lines.append(f"| {name} | {v['items']} | {v['units']} | {v['units'] / n:.2f} |")
    else:
        lines += ["", "Table calls: not counted (start moto with MOTO_CALL_COUNTS, as `make bench-burst` does)."]
    if failed:
        lines += ["", "Loss check failures (first 20):", ""] + [f"- {login}: {'; '.join(p)}" for login, p in failed[:20]]
    lines.append("")
    LOCAL.mkdir(exist_ok=True)
    (LOCAL / "bench-burst.md").write_text("\n".join(lines))
    print("\n".join(lines))
    if failed or not math.isfinite(ratio):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
