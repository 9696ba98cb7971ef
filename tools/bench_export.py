#!/usr/bin/env python3
"""`make bench` section 6: the audit export's and the report's peak memory as the trail grows.

For each size, a fresh table with the template's definition (less the stream, which the
export does not read) in the bench's moto, seeded by `target/debug/seed-trail` (the e2e
tests' trail: 4.1 lines a departure, one departure a minute; `BatchWriteItem`, 8 requests
at once). Then the release `lifecycle-ops` runs over the trail's whole period, each run
a child process of this script:
- `audit-export --format csv`, `audit-export --format jsonl`;
- `report --format html`.
Each run's peak RSS and CPU time are its own rusage, as GNU time reports them; its wall
time is mostly moto's (Python, one page of about 2,000 lines at a time). Every run must
have read the whole trail (lines written, departures reported), or the figure is of
something else. The table is deleted after each size.

Alone: `python tools/bench_export.py [--sizes 0,25000,...]` starts its own moto and
writes .local/bench-export.md; `make bench` runs it as section 6 of .local/bench.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from template import Template  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
SEEDER = TARGET / "debug" / "seed-trail"
OPS = TARGET / "release" / "lifecycle-ops"
GNU_TIME = "/usr/bin/time"
STATE = ROOT / ".local" / "bench" / "export"
REPORT = ROOT / ".local" / "bench-export.md"
REGION = "us-east-1"
DEFAULT_SIZES = (0, 25_000, 50_000, 100_000)
SEED_TIMEOUT = 900.0
RUN_TIMEOUT = 1200.0
SLA = "60m"


def log(msg: str) -> None:
    print(f"[bench-export] {msg}", file=sys.stderr, flush=True)


def aws_env(endpoint: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def create_table(endpoint: str, name: str, logical_id: str = Template.STATE_TABLE) -> None:
    import boto3
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION,
                       aws_access_key_id="local", aws_secret_access_key="local")
    args = Template(ROOT / "infra" / "template.yaml").create_table_args(name, logical_id)
    args.pop("StreamSpecification", None)
    ddb.create_table(**args)


def delete_table(endpoint: str, name: str) -> None:
    import boto3
    boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="local",
                 aws_secret_access_key="local").delete_table(TableName=name)


def measured(argv: list[str], env: dict[str, str], log_path: Path, timeout: float) -> dict:
    """Runs `argv` to its end under GNU time; its wall time, and its own peak RSS (KiB) and
    CPU seconds. Not this script's `wait4`: a child forked from this Python process starts
    with Python's resident pages, and Linux keeps that high-water mark across the exec;
    GNU time is small, so its child's figure is the program's own."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    usage_path = log_path.with_suffix(".rusage")
    usage_path.unlink(missing_ok=True)
    with open(log_path, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen([GNU_TIME, "-f", "%M %U %S", "-o", str(usage_path), *argv], cwd=ROOT,
                                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise SystemExit(f"{argv[0]} did not finish within {timeout:.0f} s; see {log_path}")
        wall = time.perf_counter() - started
    said = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}:\n{said[-2000:]}")
    peak_kib, user, system = usage_path.read_text().split()[-3:]
    return {"wall_s": wall, "peak_kib": int(peak_kib), "cpu_s": float(user) + float(system), "said": said}


def run(endpoint: str, sizes: list[int]) -> list[dict]:
    """Seeds and measures each size in turn; one row per size and run."""
    for binary, how in ((SEEDER, "make build"), (OPS, "cargo build --release -p lifecycle-ops"),
                        (Path(GNU_TIME), "make gnu-time")):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: {how}")
    env = aws_env(endpoint)
    rows = []
    for size in sizes:
        # The trail is read from the audit table; the state table stays empty.
        table, audit = f"bench-state-{size}", f"bench-trail-{size}"
        create_table(endpoint, table)
        create_table(endpoint, audit, Template.AUDIT_TABLE)
        try:
            log(f"seeding {size:,} lines into {audit}")
            seeded = measured([str(SEEDER), "--table", audit, "--lines", str(size)], env,
                              STATE / f"seed-{size}.log", SEED_TIMEOUT)
            trail = json.loads(seeded["said"].strip().splitlines()[-1])
            period = ["--since", trail["since"], "--until", trail["until"]]
            runs = {
                "audit-export csv": ["audit-export", *period, "--format", "csv"],
                "audit-export jsonl": ["audit-export", *period, "--format", "jsonl"],
                "report html": ["report", *period, "--sla", SLA, "--format", "html"],
            }
            for name, command in runs.items():
                out = STATE / f"{size}-{name.replace(' ', '.')}.out"
                log(f"{size:,} lines: lifecycle-ops {name}")
                result = measured([str(OPS), "--table", table, "--audit-table", audit, *command,
                                   "--out", str(out)], env,
                                  STATE / f"{size}-{name.replace(' ', '-')}.log", RUN_TIMEOUT)
                check_complete(name, result["said"], trail)
                rows.append({"lines": trail["lines"], "departures": trail["departures"],
                             "seed_s": trail["seconds"], "run": name,
                             "out_bytes": out.stat().st_size, **result})
                out.unlink()
        finally:
            delete_table(endpoint, table)
            delete_table(endpoint, audit)
    return rows


def check_complete(name: str, said: str, trail: dict) -> None:
    """The run read the whole trail: the export wrote every line, the report counted every
    departure."""
    if name.startswith("audit-export"):
        wanted = f"{trail['lines']} lines written"
    else:
        wanted = f"{'departures':<18} {trail['departures']}\n"  # the report's totals
    if wanted not in said:
        raise SystemExit(f"lifecycle-ops {name} did not read the whole trail ({wanted.strip()!r}):\n{said[-1000:]}")


def report_lines(rows: list[dict], section: str = "6") -> list[str]:
    lines = ["", f"## {section}. Audit export and report: peak memory as the trail grows", "",
             "Release `lifecycle-ops` against moto, one table per size, seeded by `seed-trail` "
             "(`BatchWriteItem`, 8 at once); each run a child process, peak RSS and CPU time from its "
             "own rusage (GNU time). The period is the trail's whole span; wall time is mostly moto's.",
             "", "| lines (departures) | seeding | run | output | peak RSS | CPU | wall |",
             "|--:|--:|---|--:|--:|--:|--:|"]
    for r in rows:
        rate = f"{r['seed_s']:.1f} s" + (f" ({r['lines'] / r['seed_s']:,.0f}/s)" if r["lines"] else "")
        lines.append(f"| {r['lines']:,} ({r['departures']:,}) | {rate} | {r['run']} | "
                     f"{r['out_bytes'] / 1e6:.1f} MB | {r['peak_kib'] / 1024:.1f} MiB | {r['cpu_s']:.2f} s | "
                     f"{r['wall_s']:.1f} s |")
    by_run: dict[str, list[dict]] = {}
    for r in rows:
        by_run.setdefault(r["run"], []).append(r)
    lines += ["", "| run | peak RSS, smallest → largest trail | growth per 100,000 lines, from the smallest "
              "trail that is read at all |", "|---|---|--:|"]
    for name, rs in by_run.items():
        read = [r for r in rs if r["lines"]] or rs
        first, last = read[0], read[-1]
        span = last["lines"] - first["lines"]
        growth = (last["peak_kib"] - first["peak_kib"]) / 1024 * 100_000 / span if span else 0.0
        lines.append(f"| {name} | " + " → ".join(f"{r['peak_kib'] / 1024:.1f}" for r in rs)
                     + f" MiB | {growth:+.1f} MiB |")
    return lines + [""]


def main() -> None:
    import bench  # the bench's process handling and moto; it imports this module too
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="audit lines per trail, comma-separated (default %(default)s)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.monotonic()
    procs = bench.Processes(STATE / "logs")
    procs.clear_logs()
    try:
        endpoint = bench.start_moto(procs)
        log(f"moto on {endpoint}")
        rows = run(endpoint, sizes)
    finally:
        procs.stop_all()
    text = "\n".join(["# okta-lifecycle bench: audit export", ""] + bench.machine_facts()
                     + report_lines(rows, "1")) + f"\n_took {time.monotonic() - started:.0f} s._\n"
    REPORT.write_text(text)
    print(text)
    log(f"written to {REPORT.relative_to(ROOT)}")


def interrupt(signum, frame):
    """SIGTERM ends the run like Ctrl-C: through the `finally` that stops moto."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, interrupt)
    main()
