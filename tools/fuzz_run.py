#!/usr/bin/env python3
"""Runs every cargo-fuzz target for a bounded time and reports what libFuzzer said:
executions, executions per second, coverage (cov) and features (ft), crashes.

  tools/fuzz_run.py [--seconds N] [--report PATH] [target ...]

Each target's corpus grows in fuzz/corpus/<target>/, seeded from fuzz/seeds/<target>/
and fuzz/regressions/<target>/. A crash leaves its input in fuzz/artifacts/<target>/
and fails the run."""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
TARGETS = ["hook_envelope", "log_page", "link_header", "scim_response", "okta_objects",
           "targets_secret", "actions_request", "hr_file"]
STAT = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+).*?exec/s: (\d+)")
DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def run(target, seconds, env):
    corpus = FUZZ / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    dirs = [str(corpus), str(FUZZ / "seeds" / target)]
    if (FUZZ / "regressions" / target).is_dir():
        dirs.append(str(FUZZ / "regressions" / target))
    cmd = ["cargo", "fuzz", "run", "-O", target, *dirs, "--",
           f"-max_total_time={seconds}", "-print_final_stats=1", "-max_len=65536", "-timeout=10"]
    proc = subprocess.run(cmd, cwd=FUZZ, env=env, capture_output=True, text=True)
    log = proc.stderr
    (FUZZ / "logs").mkdir(exist_ok=True)
    (FUZZ / "logs" / f"{target}.log").write_text(log)
    stats = STAT.findall(log)
    done = DONE.search(log)
    runs = int(done.group(1)) if done else (int(stats[-1][0]) if stats else 0)
    # A crash stops the run early: its time is what libFuzzer's own rate says.
    rate = int(stats[-1][3]) if stats else 0
    secs = int(done.group(2)) if done else (runs // rate if rate else seconds)
    cov, ft = (stats[-1][1], stats[-1][2]) if stats else ("?", "?")
    crashed = proc.returncode != 0
    return {"target": target, "runs": runs, "secs": secs, "rate": runs // max(secs, 1),
            "cov": cov, "ft": ft, "corpus": len(list(corpus.iterdir())),
            "crashes": 1 if crashed else 0, "rc": proc.returncode}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "300")))
    ap.add_argument("--report", default=str(ROOT / ".local" / "fuzz.md"))
    ap.add_argument("targets", nargs="*", default=TARGETS)
    args = ap.parse_args()
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    rows = []
    for target in args.targets:
        r = run(target, args.seconds, env)
        rows.append(r)
        print(f"{target:16} {r['runs']:>11,} runs in {r['secs']:>4} s ({r['rate']:>7,}/s)  "
              f"cov {r['cov']:>5}  ft {r['ft']:>6}  corpus {r['corpus']:>5}  "
              f"{'CRASH: see fuzz/logs/' + target + '.log' if r['crashes'] else 'no crash'}",
              flush=True)
    total = sum(r["runs"] for r in rows)
    crashes = sum(r["crashes"] for r in rows)
    lines = [f"# Fuzzing, {datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
             f"{args.seconds} s per target", "",
             "| target | executions | exec/s | cov | ft | corpus | crashes |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['target']} | {r['runs']:,} | {r['rate']:,} | {r['cov']} | {r['ft']} | "
              f"{r['corpus']} | {r['crashes']} |" for r in rows]
    lines += ["", f"Total: {total:,} executions, {crashes} crashes."]
    pathlib.Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.report).write_text("\n".join(lines) + "\n")
    print(f"total {total:,} executions, {crashes} crashes; report in {args.report}")
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
