#!/usr/bin/env python3
"""The source-of-truth sync at scale, on the running local stack (loopback only): an org
of N users (default 10,000) of one user type, each in one of two managed groups, and an
HR export of the same N people with a share of them (default 10%) in another department.
`lifecycle-ops sync` (the release build) plans it, then applies it through the actions
API, with the simulator's rate limits at Okta's published Enterprise figures (times
`--scale`).

What it reports (also into .local/bench-sync.md):
- the plan's wall time and its Okta calls per endpoint family, against the bound: for
  each family, its calls divided by the share of its per-minute limit the client may use
  (80%: the rest is the reserve for the org's other integrations); the largest is the
  bound. The same for the apply (its calls are the actions function's).
- the ratio of each to its bound (the goal is at most 1.2), the 429s, and the CLI's peak
  RSS for each run (GNU time);
- that the plan is what the file says (N − changed unchanged, `changed` updates) and
  that after the apply every changed person has the new department and a second plan is
  all `unchanged`.

The simulator's limits are raised while the org is seeded and put back afterwards.

    bench_sync.py [--users N] [--changed SHARE] [--scale S]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
OPS = ROOT / "target" / "release" / "lifecycle-ops"
GNU_TIME = "/usr/bin/time"
# Okta's published per-minute limits, Enterprise org (the same figures tools/bench.py
# sets for the actions function): one bucket per family in the simulator.
ENTERPRISE = {"users": 600, "groups": 600, "logs": 50, "sessions": 600, "eventHooks": 100,
              "token": 600, "concurrency": 75}
RESERVE = 0.20
SEED_LIMITS = {k: 1_000_000 for k in ENTERPRISE}
RUN_TIMEOUT = 3600.0


def log(msg: str) -> None:
    print(f"[bench-sync] {msg}", file=sys.stderr, flush=True)


def stack_env() -> dict[str, str]:
    path = LOCAL / "stack.env"
    if not path.exists():
        raise SystemExit("the local stack is not up: run `make up` (or `make bench-sync`)")
    return {k: shlex.split(v)[0] if v else "" for k, v in
            (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)}


class Okta:
    def __init__(self, env: dict[str, str]):
        self.url = env["OKTA_URL"]
        self.token = env["OKTA_API_TOKEN"]

    def call(self, method: str, path: str, body=None):
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"SSWS {self.token}",
                                              "Accept": "application/json",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
            return json.loads(data) if data.strip() else None

    def counters(self) -> dict:
        return self.call("GET", "/_sim/counters")


def seed(okta: Okta, users: int, user_type: str, groups: list[dict]) -> list[str]:
    """N users of `user_type`, each in one of `groups`; their logins. Created STAGED (not
    activated): an activation is an event the local stack's worker would take up, and its
    Okta reads would share the windows the runs are measured in."""
    logins = [f"{user_type.lower()}-{i:05d}@example.com" for i in range(users)]

    def one(i: int) -> None:
        login = logins[i]
        group = groups[i % len(groups)]
        okta.call("POST", "/api/v1/users?activate=false", {
            "profile": {"login": login, "email": login, "firstName": "Bench", "lastName": f"P{i:05d}",
                        "department": "Engineering", "userType": user_type},
            "groupIds": [group["id"]]})

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(users)))
    return logins


def group(okta: Okta, name: str) -> dict:
    """The group of that name, created if there is none."""
    for g in okta.call("GET", "/api/v1/groups?q=" + urllib.parse.quote(name)) or []:
        if g["profile"]["name"] == name:
            return g
    return okta.call("POST", "/api/v1/groups", {"profile": {"name": name}})


def sync_function_peak_kib(binary: Path) -> int | None:
    """The peak RSS (VmHWM) of the running sync function: the process `cargo lambda
    watch` started from `binary` (read from /proc, nothing is signalled)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # A binary rebuilt since the process started reads "<path> (deleted)".
            exe = str(Path(proc / "exe").readlink()).removesuffix(" (deleted)")
            if exe != str(binary.resolve()):
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            continue
    return None


def drop_and_wait(env: dict[str, str], people: Path, timeout: float = 1800) -> dict:
    """Puts the file into the sync bucket; waits for its drop to settle; the drop item."""
    import boto3
    aws = {"endpoint_url": env["AWS_ENDPOINT_URL"], "region_name": env["AWS_REGION"],
           "aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}
    s3 = boto3.client("s3", **aws)
    ddb = boto3.client("dynamodb", **aws)
    key = f"incoming/bench-{time.time_ns()}.csv"
    version = s3.put_object(Bucket=env["SYNC_BUCKET"], Key=key, Body=people.read_bytes()).get("VersionId", "")
    import hashlib
    drop_id = "drop-" + hashlib.sha256(f"{env['SYNC_BUCKET']}\n{key}\n{version}".encode()).hexdigest()[:16]
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        item = ddb.get_item(TableName=env["TABLE_NAME"], ConsistentRead=True,
                            Key={"pk": {"S": f"SYNC#{drop_id}"}, "sk": {"S": "DROP"}}).get("Item")
        if item and item["status"]["S"] != "planning":
            return {k: next(iter(v.values())) for k, v in item.items()}
        time.sleep(1)
    raise SystemExit(f"drop {drop_id} not settled within {timeout:.0f}s")


def export(path: Path, logins: list[str], user_type: str, groups: list[dict], changed: set[int]) -> None:
    with path.open("w") as f:
        f.write("login,email,first_name,last_name,department,user_type,groups\n")
        for i, login in enumerate(logins):
            department = "Research" if i in changed else "Engineering"
            f.write(f"{login},{login},Bench,P{i:05d},{department},{user_type},{groups[i % len(groups)]['profile']['name']}\n")


def measured(argv: list[str], env: dict[str, str]) -> dict:
    """Runs `argv` under GNU time: wall time, peak RSS (KiB), exit code, stdout."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as usage, \
            tempfile.NamedTemporaryFile("w+", suffix=".out") as out:
        started = time.monotonic()
        proc = subprocess.run([GNU_TIME, "-f", "%M", "-o", usage.name, *argv], env=env, cwd=ROOT,
                              stdout=out, stderr=subprocess.DEVNULL, timeout=RUN_TIMEOUT)
        wall = time.monotonic() - started
        out.seek(0)
        text = out.read()
        rss = int((Path(usage.name).read_text().split() or ["0"])[-1])
    return {"wall": wall, "rss_kib": rss, "exit": proc.returncode, "stdout": text}


def calls_between(before: dict, after: dict) -> dict[str, int]:
    families = set(before["requests"]) | set(after["requests"])
    return {f: after["requests"].get(f, 0) - before["requests"].get(f, 0) for f in sorted(families)
            if after["requests"].get(f, 0) - before["requests"].get(f, 0)}


def bound_seconds(calls: dict[str, int], limits: dict[str, float]) -> tuple[float, str]:
    """The largest, over the families, of calls / usable share of the per-minute limit."""
    worst, family = 0.0, "-"
    for f, n in calls.items():
        usable = limits.get(f, 0) * (1 - RESERVE)
        if usable <= 0:
            continue
        seconds = n / usable * 60
        if seconds > worst:
            worst, family = seconds, f
    return worst, family


def next_window() -> None:
    """Waits for the simulator's next minute: every run starts with a whole window."""
    time.sleep(60 - time.time() % 60 + 0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.10)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--ops", type=Path, default=OPS, help="the lifecycle-ops binary (default: the release build)")
    args = parser.parse_args()
    for binary, how in ((args.ops, "cargo build --release -p lifecycle-ops"), (Path(GNU_TIME), "make gnu-time")):
        if not binary.exists():
            raise SystemExit(f"{binary} missing: run `{how}`")
    env = stack_env()
    okta = Okta(env)
    saved = okta.call("GET", "/_sim/rate-limits")
    stamp = datetime.now(timezone.utc).strftime("%H%M%S")
    # The stack's sync function speaks for this user type and manages these groups: the
    # same org and file are then dropped into its bucket, and the function weighed.
    user_type = env["SYNC_USER_TYPE"]
    prefix = env["SYNC_GROUPS"]
    limits = {k: max(1, int(v * args.scale)) for k, v in ENTERPRISE.items()}
    try:
        okta.call("POST", "/_sim/rate-limits", SEED_LIMITS)
        groups = [group(okta, f"{prefix}{n}") for n in ("Eng", "Ops")]
        if okta.call("GET", "/api/v1/users?search=" + urllib.parse.quote(f'profile.userType eq "{user_type}"')
                     + "&limit=1"):
            raise SystemExit(f"users of type {user_type} exist already: run on a fresh stack (make bench-sync)")
        started = time.monotonic()
        logins = seed(okta, args.users, user_type, groups)
        log(f"seeded {len(logins)} users in {time.monotonic() - started:.0f}s")
        changed = set(range(0, args.users, max(1, round(1 / args.changed))))
        work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
        people = work / "people.csv"
        export(people, logins, user_type, groups, changed)

        run_env = {**__import__("os").environ, **{k: env[k] for k in
                   ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}}
        base = [str(args.ops), "--api-url", env["ACTIONS_URL"], "--region", env["AWS_REGION"], "--json",
                "sync", str(people), "--scope-user-type", user_type, "--manage-groups", prefix,
                "--okta-url", env["OKTA_URL"], "--okta-credentials-secret-id", env["OKTA_CREDENTIALS_SECRET_ID"]]
        okta.call("POST", "/_sim/rate-limits", limits)
        runs = {}
        for phase, extra in (("plan", []), ("apply", ["--apply"]), ("replan", [])):
            next_window()
            before = okta.counters()
            log(f"{phase}: running")
            result = measured(base + extra, run_env)
            after = okta.counters()
            result["calls"] = calls_between(before, after)
            result["429s"] = after["rateLimited"] - before["rateLimited"]
            result["bound"], result["bound_family"] = bound_seconds(result["calls"], limits)
            runs[phase] = result
            log(f"{phase}: {result['wall']:.1f}s, exit {result['exit']}, calls {result['calls']}, "
                f"bound {result['bound']:.1f}s ({result['bound_family']}), peak {result['rss_kib'] / 1024:.1f} MiB")
        # The same file dropped into the bucket: the sync function plans it (all unchanged
        # now) and settles the drop; its process's peak RSS is read from /proc.
        next_window()
        before = okta.counters()
        log("drop: running")
        started = time.monotonic()
        settled = drop_and_wait(env, people)
        after = okta.counters()
        drop = {"wall": time.monotonic() - started, "exit": 0 if settled["status"] == "applied" else 1,
                "status": settled["status"], "totals": settled.get("totals"),
                "rss_kib": sync_function_peak_kib(ROOT / "target" / "release" / "sync") or 0,
                "calls": calls_between(before, after), "429s": after["rateLimited"] - before["rateLimited"]}
        drop["bound"], drop["bound_family"] = bound_seconds(drop["calls"], limits)
        runs["drop (sync function)"] = drop
        log(f"drop: {drop['wall']:.1f}s, {drop['status']}, calls {drop['calls']}, "
            f"peak {drop['rss_kib'] / 1024:.1f} MiB")
    finally:
        okta.call("POST", "/_sim/rate-limits", saved)

    plan = json.loads(runs["plan"]["stdout"])
    totals = plan["totals"]
    problems = []
    if totals.get("update") != len(changed) or totals.get("unchanged") != args.users - len(changed):
        problems.append(f"the plan's totals {totals} are not {len(changed)} updates and "
                        f"{args.users - len(changed)} unchanged")
    if runs["apply"]["exit"] != 0:
        problems.append(f"the apply exited {runs['apply']['exit']}")
    drop = runs["drop (sync function)"]
    if drop["status"] != "applied" or json.loads(drop["totals"] or "{}").get("unchanged") != args.users:
        problems.append(f"the dropped file came to {drop['status']} {drop['totals']}, not all unchanged")
    replan = json.loads(runs["replan"]["stdout"])["totals"]
    if replan.get("unchanged") != args.users:
        problems.append(f"after the apply, the plan is {replan}, not all unchanged")
    for i in sorted(changed)[:: max(1, len(changed) // 20)]:
        user = okta.call("GET", f"/api/v1/users/{logins[i]}")
        if user["profile"].get("department") != "Research":
            problems.append(f"{logins[i]} was not updated")

    lines = [
        f"## Sync at scale ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"{args.users} users of one type in Okta (the simulator, limits at Okta's Enterprise figures "
        f"× {args.scale}: {limits}); an HR export of the same people, {len(changed)} "
        f"({args.changed:.0%}) with another department. The bound is, over the endpoint families, the "
        f"largest of calls / ({1 - RESERVE:.0%} of the per-minute limit).",
        "",
        "| run | wall | Okta calls by family | 429s | bound (family) | ratio | peak RSS |",
        "|---|--:|---|--:|--:|--:|--:|",
    ]
    for phase, r in runs.items():
        ratio = r["wall"] / r["bound"] if r["bound"] else float("nan")
        lines.append(f"| {phase} | {r['wall']:.1f} s | {', '.join(f'{k} {v}' for k, v in r['calls'].items())} | "
                     f"{r['429s']} | {r['bound']:.1f} s ({r['bound_family']}) | {ratio:.2f} | "
                     f"{r['rss_kib'] / 1024:.1f} MiB |")
    lines += ["", "Checks: " + ("the plan, the apply and the plan after it are as the file says."
                               if not problems else "; ".join(problems)), ""]
    LOCAL.mkdir(exist_ok=True)
    (LOCAL / "bench-sync.md").write_text("\n".join(lines))
    print("\n".join(lines))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
