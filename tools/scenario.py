#!/usr/bin/env python3
"""`make run`'s scenario, played against the running local stack: Okta verifies the
hook; a user is deactivated in the Okta simulator, the hook delivery lands as a job and
the deprovision function removes their access in Okta, in the SCIM application and
through the signed webhook, with an audit trail; the user is reactivated and gets it
back; a real-looking delivery and its duplicate arrive; the poller finds nothing new; a
caller with a wrong secret is turned away; then what is in the table is shown. Last,
another source of truth (an HR system, say) drives Okta through the IAM-authorized
provisioning actions API: refused unsigned, then signed with SigV4 it creates a user, adds
them to a group, plans a deprovisioning without touching anything, and resets a password
(the temporary password comes back once; its repeat is a replay without it).

Exits non-zero if an expectation of the actions section does not hold."""

from __future__ import annotations

import json
import shlex
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: shlex.split(v)[0] if v else "" for k, v in
       (line.split("=", 1) for line in (ROOT / ".local" / "stack.env").read_text().splitlines() if "=" in line)}
HOOK = ENV["HOOK_URL"]
SECRET = ENV["HOOK_SECRET"]
HEADER = ENV["HOOK_AUTH_HEADER"]
OKTA = ENV["OKTA_URL"]
TOKEN = ENV["OKTA_API_TOKEN"]
API = ENV["API_URL"]
CREDENTIALS = Credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
FAILED: list[str] = []
ddb = boto3.client("dynamodb", endpoint_url=ENV["AWS_ENDPOINT_URL"], region_name=ENV["AWS_REGION"],
                   aws_access_key_id="local", aws_secret_access_key="local")


def exchange(method: str, url: str, data: bytes | None, headers: dict) -> tuple[int, dict | str, dict]:
    """One HTTP exchange: the status, the body (parsed if JSON) and the headers (lowercased)."""
    req = urllib.request.Request(url, method=method, headers=headers, data=data)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw, got = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        status, raw, got = e.code, e.read(), e.headers
    got = {k.lower(): v for k, v in got.items()}
    try:
        return status, json.loads(raw) if raw else "", got
    except ValueError:
        return status, raw.decode(errors="replace"), got


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict | str]:
    status, answer, _ = exchange(method, url, json.dumps(body).encode() if body is not None else None,
                                 {"Content-Type": "application/json", **(headers or {})})
    return status, answer


def signed(method: str, url: str, body: dict | None = None) -> tuple[int, dict | str, dict]:
    """A request signed with SigV4 for execute-api, as an IAM caller of the actions API signs it."""
    data = json.dumps(body).encode() if body is not None else None
    req = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(CREDENTIALS, "execute-api", ENV["AWS_REGION"]).add_auth(req)
    return exchange(method, url, data, dict(req.headers.items()))


def step(title: str) -> None:
    print(f"\n== {title}")


def show(status: int, body) -> None:
    print(f"   -> {status} {json.dumps(masked(body), ensure_ascii=False) if not isinstance(body, str) else body}")


def masked(value):
    """`value` with every temporary password cut to its first 2 characters and its length:
    this output is a log."""
    if isinstance(value, dict):
        return {k: (f"{v[:2]}… ({len(v)} characters)" if k == "temp_password" and isinstance(v, str)
                    else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def expect(ok: bool, what: str) -> bool:
    """Records an expectation; one that does not hold is printed and fails the scenario."""
    if not ok:
        FAILED.append(what)
        print(f"   !! EXPECTED: {what}")
    return ok


def row(answer) -> dict:
    """The first result row of an actions answer ({} if there is none)."""
    results = answer.get("results") if isinstance(answer, dict) else None
    return results[0] if results else {}


def jobs_of(user_id: str) -> list[dict]:
    return ddb.query(TableName=ENV["TABLE_NAME"], KeyConditionExpression="pk = :pk",
                     ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}})["Items"]


def audit_of(user_id: str) -> list[dict]:
    """A user's audit lines, oldest first, from the audit table."""
    return ddb.query(TableName=ENV["AUDIT_TABLE_NAME"], KeyConditionExpression="pk = :pk",
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


def okta_groups(user_id: str, okta: dict) -> list[str]:
    _, groups = http("GET", f"{OKTA}/api/v1/users/{user_id}/groups", headers=okta)
    return sorted(g["profile"]["name"] for g in groups)


def access(user: dict, okta: dict) -> None:
    _, state = http("GET", f"{OKTA}/_sim/state")
    sim = next(u for u in state["users"] if u["id"] == user["id"])["_sim"]
    scim_headers = {"Authorization": f"Bearer {ENV['SCIM_TOKEN']}"} if ENV.get("SCIM_TOKEN") else {}
    query = urllib.parse.urlencode({"filter": f'userName eq "{user["profile"]["login"]}"'})
    _, scim = http("GET", f"{ENV['SCIM_URL']}/Users?{query}", headers=scim_headers)
    account = (scim.get("Resources") or [{}])[0] if isinstance(scim, dict) else {}
    print(f"   Okta groups: {okta_groups(user['id'], okta)}")
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
    print("   audit trail (the audit table):")
    for item in audit_of(user["id"]):
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

    step("What the state table holds now")
    items = ddb.scan(TableName=ENV["TABLE_NAME"])["Items"]
    for item in sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])):
        flat = {k: next(iter(v.values())) for k, v in item.items() if k not in ("pk", "sk")}
        keep = {k: flat[k] for k in ("status", "action", "event_type", "source", "user_login", "enabled",
                                     "applied", "last_event_published",
                                     "verified_at", "last_delivery_at", "reason", "after", "outcome",
                                     "events_seen", "jobs_created", "duplicates", "lag_seconds")
                if k in flat}
        print(f"   {item['pk']['S']:<44} {item['sk']['S']:<66} {json.dumps(keep)}")

    _, counters = http("GET", f"{OKTA}/_sim/counters")
    print(f"\n   simulator hook deliveries: {json.dumps(counters.get('deliveries', counters))}")

    actions_api(okta)
    if FAILED:
        print(f"\n{len(FAILED)} expectation(s) did not hold:")
        for what in FAILED:
            print(f"   - {what}")
        sys.exit(1)


def actions_api(okta: dict) -> None:
    """Another source of truth drives Okta through POST /actions (IAM-authorized)."""
    run = uuid.uuid4().hex[:10]
    login = f"nova.hire.{run}@example.com"
    create = {"idempotency_key": f"scenario-{run}-create", "dry_run": False, "actions": [
        {"type": "SYNC_IDENTITIES", "login": login, "email": login, "first_name": "Nova",
         "last_name": "Hire", "department": "Engineering", "title": "Engineer"}]}

    step("Another source of truth drives Okta: POST /actions without a SigV4 signature")
    status, answer = http("POST", f"{API}/actions", create)
    show(status, answer)
    expect(status == 403, f"an unsigned POST /actions is refused with 403, not {status}")
    status, _ = http("GET", f"{OKTA}/api/v1/users/{login}", headers=okta)
    expect(status == 404, f"nothing was created in Okta for the unsigned request (GET {login}: {status})")

    step("Signed (SigV4, service execute-api): SYNC_IDENTITIES creates the new hire in Okta")
    status, answer, _ = signed("POST", f"{API}/actions", create)
    show(status, answer)
    first_request = answer.get("request_id") if isinstance(answer, dict) else None
    user_id = row(answer).get("user_id")
    expect(status == 200 and row(answer).get("outcome") == "created",
           f"SYNC_IDENTITIES answers 200 with outcome created (got {status} {row(answer).get('outcome')})")
    if not user_id:
        FAILED.append("SYNC_IDENTITIES returned no user_id; the rest of the section needs it")
        return
    _, user = http("GET", f"{OKTA}/api/v1/users/{user_id}", headers=okta)
    print(f"   Okta has {user['profile']['login']} ({user_id}): status {user['status']}, "
          f"department {user['profile'].get('department')}, title {user['profile'].get('title')}")
    expect(user["profile"]["login"] == login and user["profile"].get("department") == "Engineering",
           "Okta's user carries the login and department that were asked for")

    step("MANAGE_RELATIONSHIPS adds them to Engineering")
    status, answer, _ = signed("POST", f"{API}/actions", {
        "idempotency_key": f"scenario-{run}-groups", "dry_run": False,
        "actions": [{"type": "MANAGE_RELATIONSHIPS", "user": login, "add": ["Engineering"]}]})
    show(status, answer)
    groups = okta_groups(user_id, okta)
    print(f"   Okta groups (read back with the SSWS token): {groups}")
    expect(status == 200 and row(answer).get("outcome") == "added" and "Engineering" in groups,
           f"the membership is added and Okta lists Engineering (got {row(answer).get('outcome')}, {groups})")

    step("A dry run of DEPROVISION_IDENTITY: what would change, and Okta unchanged")
    before = (http("GET", f"{OKTA}/api/v1/users/{user_id}", headers=okta)[1]["status"], groups)
    status, answer, _ = signed("POST", f"{API}/actions", {
        "idempotency_key": f"scenario-{run}-leaver-plan", "dry_run": True,
        "actions": [{"type": "DEPROVISION_IDENTITY", "user": login, "mode": "deactivate"}]})
    show(status, answer)
    for change in row(answer).get("changes") or []:
        print(f"   planned: {json.dumps(change)}")
    after = (http("GET", f"{OKTA}/api/v1/users/{user_id}", headers=okta)[1]["status"], okta_groups(user_id, okta))
    print(f"   Okta before: status {before[0]}, groups {before[1]}; after: status {after[0]}, groups {after[1]}")
    expect(status == 200 and answer.get("dry_run") is True and row(answer).get("outcome") == "planned",
           f"the dry run answers outcome planned (got {row(answer).get('outcome')}: {row(answer).get('error')})")
    expect(before == after, "a dry run leaves Okta as it was")

    step("RESET_PASSWORD for an employee who has a password: a temporary one comes back, once")
    # The new hire has no password yet (PROVISIONED): Okta resets only users who have one.
    colleague = f"ida.colleague.{run}@example.com"
    status, existing = http("POST", f"{OKTA}/api/v1/users?activate=true", {
        "profile": {"firstName": "Ida", "lastName": "Colleague", "login": colleague, "email": colleague},
        "credentials": {"password": {"value": f"Aa1!{uuid.uuid4().hex}"}}}, okta)
    print(f"   {colleague} ({existing.get('id')}) exists in Okta: status {existing.get('status')}")
    reset = {"idempotency_key": f"scenario-{run}-reset", "dry_run": False,
             "actions": [{"type": "RESET_PASSWORD", "user": colleague, "send_email": False}]}
    status, answer, headers = signed("POST", f"{API}/actions", reset)
    show(status, answer)
    password = row(answer).get("temp_password") or ""
    print(f"   temporary password: {password[:2]}… ({len(password)} characters); "
          f"Cache-Control: {headers.get('cache-control')}")
    _, now = http("GET", f"{OKTA}/api/v1/users/{colleague}", headers=okta)
    print(f"   Okta status now: {now.get('status')}")
    expect(status == 200 and row(answer).get("outcome") == "reset" and len(password) >= 8
           and row(answer).get("temp_password_issued") is True,
           f"the reset answers a temporary password (got {row(answer).get('outcome')}: {row(answer).get('error')})")
    expect(headers.get("cache-control") == "no-store", "the answer is marked Cache-Control: no-store")

    step("The same reset again, same idempotency key: the first answer, replayed, without the password")
    status, answer, _ = signed("POST", f"{API}/actions", reset)
    show(status, answer)
    expect(status == 200 and answer.get("replayed") is True and "temp_password" not in row(answer)
           and row(answer).get("temp_password_issued") is True,
           "the repeat is replayed: true, says a password was issued, and carries none")

    step("GET /actions/{request_id} of the first request")
    status, answer, _ = signed("GET", f"{API}/actions/{first_request}")
    show(status, answer)
    expect(status == 200 and answer.get("status") == "done" and row(answer).get("outcome") == "created"
           and row(answer).get("user_id") == user_id,
           "the first request reads back done, with the user it created")


if __name__ == "__main__":
    main()
