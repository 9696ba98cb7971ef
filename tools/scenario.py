#!/usr/bin/env python3
"""`make run`'s scenario, played against the running local stack: Okta verifies the
hook; a user is deactivated in the Okta simulator, the hook delivery lands as a job and
the deprovision function removes their access in Okta, in the SCIM application and
through the signed webhook, with an audit trail; the user is reactivated and gets it
back; a real-looking delivery and its duplicate arrive; the poller finds nothing new; a
caller with a wrong secret is turned away; then what is in the table is shown."""

from __future__ import annotations

import json
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: shlex.split(v)[0] if v else "" for k, v in
       (line.split("=", 1) for line in (ROOT / ".local" / "stack.env").read_text().splitlines() if "=" in line)}
HOOK = ENV["HOOK_URL"]
SECRET = ENV["HOOK_SECRET"]
HEADER = ENV["HOOK_AUTH_HEADER"]
OKTA = ENV["OKTA_URL"]
TOKEN = ENV["OKTA_API_TOKEN"]
ddb = boto3.client("dynamodb", endpoint_url=ENV["AWS_ENDPOINT_URL"], region_name=ENV["AWS_REGION"],
                   aws_access_key_id="local", aws_secret_access_key="local")


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict | str]:
    req = urllib.request.Request(url, method=method, headers={"Content-Type": "application/json", **(headers or {})},
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else ""
    except ValueError:
        return status, raw.decode(errors="replace")


def step(title: str) -> None:
    print(f"\n== {title}")


def show(status: int, body) -> None:
    print(f"   -> {status} {json.dumps(body) if not isinstance(body, str) else body}")


def jobs_of(user_id: str) -> list[dict]:
    return ddb.query(TableName=ENV["TABLE_NAME"], KeyConditionExpression="pk = :pk",
                     ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}})["Items"]


def job_done(user_id: str, event_type: str, timeout: float = 30) -> dict | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        for job in jobs_of(user_id):
            if (job["sk"]["S"].startswith("JOB#") and job.get("event_type", {}).get("S") == event_type
                    and job["status"]["S"] not in ("pending", "running", "retrying")):
                return job
        time.sleep(0.2)
    return None


def access(user: dict, okta: dict) -> None:
    _, groups = http("GET", f"{OKTA}/api/v1/users/{user['id']}/groups", headers=okta)
    _, state = http("GET", f"{OKTA}/_sim/state")
    sim = next(u for u in state["users"] if u["id"] == user["id"])["_sim"]
    scim_headers = {"Authorization": f"Bearer {ENV['SCIM_TOKEN']}"} if ENV.get("SCIM_TOKEN") else {}
    query = urllib.parse.urlencode({"filter": f'userName eq "{user["profile"]["login"]}"'})
    _, scim = http("GET", f"{ENV['SCIM_URL']}/Users?{query}", headers=scim_headers)
    account = (scim.get("Resources") or [{}])[0] if isinstance(scim, dict) else {}
    print(f"   Okta groups: {sorted(g['profile']['name'] for g in groups)}")
    print(f"   Okta sessions: {sim['sessions']}   SCIM account {account.get('id', '-')}: active={account.get('active')}")


def main() -> None:
    step("Okta verifies the endpoint (GET /okta with X-Okta-Verification-Challenge)")
    challenge = uuid.uuid4().hex
    show(*http("GET", HOOK, headers={"X-Okta-Verification-Challenge": challenge, HEADER: SECRET}))

    step("An admin deactivates a user in Okta (the simulator); Okta delivers the event hook")
    okta = {"Authorization": f"SSWS {TOKEN}"}
    _, users = http("GET", f"{OKTA}/api/v1/users?limit=200", headers=okta)
    user = next(u for u in users if u["status"] == "ACTIVE")
    print(f"   before, {user['profile']['login']} ({user['id']}) has:")
    access(user, okta)
    print(f"   deactivating {user['profile']['login']}")
    show(*http("POST", f"{OKTA}/api/v1/users/{user['id']}/lifecycle/deactivate?sendEmail=false", headers=okta))
    started = time.monotonic()
    while not jobs_of(user["id"]) and time.monotonic() - started < 15:
        time.sleep(0.2)
    jobs = jobs_of(user["id"])
    if jobs:
        print(f"   job written {time.monotonic() - started:.2f}s after the deactivation: {jobs[0]['sk']['S']}")
    else:
        print("   NO JOB after 15 s: see .local/logs/okta-sim.log and .local/logs/lambda.log")

    step("The table's stream hands the job to the deprovision function")
    job = job_done(user["id"], "user.lifecycle.deactivate")
    print(f"   job {job['status']['S'] if job else 'NOT FINISHED (see .local/logs/streams.log)'} "
          f"{time.monotonic() - started:.2f}s after the deactivation; now the user has:")
    access(user, okta)
    _, deliveries = http("GET", f"{ENV['WEBHOOK_RECEIVER_URL']}/_deliveries?user={user['id']}")
    for d in deliveries:
        print(f"   webhook received: action={d['action']} signature verified={d['verified']} status={d['status']}")
    print("   audit trail:")
    for item in jobs_of(user["id"]):
        if item["sk"]["S"].startswith("AUDIT#"):
            flat = {k: next(iter(v.values())) for k, v in item.items()}
            print(f"     {flat['at']}  {flat['action']:<40} {flat.get('label', ''):<28} {flat['outcome']}")

    step("The user comes back: an admin activates them in Okta, and access is restored")
    show(*http("POST", f"{OKTA}/api/v1/users/{user['id']}/lifecycle/activate?sendEmail=false", headers=okta))
    job = job_done(user["id"], "user.lifecycle.activate")
    print(f"   restore job {job['status']['S'] if job else 'NOT FINISHED'}; now the user has:")
    access(user, okta)

    step("A real-looking delivery (tests/fixtures/deactivate.json), then Okta's retry of it")
    delivery = json.loads((ROOT / "tests" / "fixtures" / "deactivate.json").read_text())
    delivery["data"]["events"][0]["uuid"] = str(uuid.uuid4())
    show(*http("POST", HOOK, delivery, {HEADER: SECRET}))
    delivery["eventId"] = str(uuid.uuid4())
    show(*http("POST", HOOK, delivery, {HEADER: SECRET}))

    step("The System Log poller runs (as its schedule would) and finds the same deactivation")
    status, report = http("POST", f"{ENV['LAMBDA_URL']}/2015-03-31/functions/log-poller/invocations",
                          {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
    show(status, report)
    print("   (a duplicate of what the hook delivered: one job per event, whichever path brings it)")

    step("Someone without the secret")
    show(*http("POST", HOOK, delivery, {HEADER: "guess"}))

    step("What the table holds now")
    items = ddb.scan(TableName=ENV["TABLE_NAME"])["Items"]
    for item in sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])):
        if item["sk"]["S"].startswith("AUDIT#"):
            continue
        flat = {k: next(iter(v.values())) for k, v in item.items() if k not in ("pk", "sk")}
        keep = {k: flat[k] for k in ("status", "action", "event_type", "source", "user_login", "enabled",
                                     "applied", "last_event_published",
                                     "verified_at", "last_delivery_at", "reason", "after", "outcome",
                                     "events_seen", "jobs_created", "duplicates", "lag_seconds")
                if k in flat}
        print(f"   {item['pk']['S']:<44} {item['sk']['S']:<66} {json.dumps(keep)}")

    _, counters = http("GET", f"{OKTA}/_sim/counters")
    print(f"\n   simulator hook deliveries: {json.dumps(counters.get('deliveries', counters))}")


if __name__ == "__main__":
    main()
