#!/usr/bin/env python3
"""Checks the functions' metric lines against CloudWatch's Embedded Metric Format.

Reads a log (the local stack's `.local/logs/lambda.log` by default), takes every line
that carries an `_aws` member as an EMF document, and checks each against the rules of
the specification (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html):

- the line is one JSON object and nothing else;
- `_aws` is an object with a number `Timestamp` (milliseconds since the epoch) and a
  `CloudWatchMetrics` array of metric directives;
- a directive has a `Namespace` string, a `Dimensions` array of dimension sets (arrays of
  at most 30 strings) and a `Metrics` array of at most 100 definitions, each with a
  `Name` string, an optional `Unit` among CloudWatch's units and an optional
  `StorageResolution` of 1 or 60;
- every dimension names a root member whose value is a string; every metric names a
  root member whose value is a number or an array of at most 100 numbers.

On top of the specification, our own rules: namespace `OktaLifecycle`, `service` in every
dimension set, and no dimension that would be a metric per person or per job (user ids,
logins, job or request ids), nor any value that looks like an Okta user id or a login.

`--expect SERVICE` (repeatable) fails the check when a service printed no document.
Exit 0 when every document passes, 1 otherwise; the errors are printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

NAMESPACE = "OktaLifecycle"
UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
    "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
    "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
    "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
    "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}
# Dimension names that would make a metric per person, job or request.
FORBIDDEN_DIMENSIONS = {
    "user", "user_id", "userid", "login", "user_login", "email", "job", "job_id",
    "request_id", "event_uuid", "uuid", "delivery_id", "token", "secret", "authorization",
}
# Values that identify a person: an Okta user id (00u…) or an e-mail login.
PERSONAL = re.compile(r"^00u[0-9A-Za-z]{10,}$|@")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_document(doc) -> list[str]:
    """The ways `doc` breaks the specification or our rules; empty when it passes."""
    if not isinstance(doc, dict):
        return ["the document is not a JSON object"]
    aws = doc.get("_aws")
    if not isinstance(aws, dict):
        return ["_aws is missing or not an object"]
    errors = []
    if not _is_number(aws.get("Timestamp")):
        errors.append("_aws.Timestamp is missing or not a number")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return errors + ["_aws.CloudWatchMetrics is missing or not a non-empty array"]
    for i, directive in enumerate(directives):
        errors += [f"directive {i}: {e}" for e in _check_directive(doc, directive)]
    return errors


def _check_directive(doc: dict, directive) -> list[str]:
    if not isinstance(directive, dict):
        return ["not an object"]
    errors = []
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 1024:
        errors.append("Namespace is missing or not a string of 1-1024 characters")
    elif namespace != NAMESPACE:
        errors.append(f"Namespace is {namespace!r}, not {NAMESPACE!r}")
    errors += _check_dimensions(doc, directive.get("Dimensions"))
    errors += _check_metrics(doc, directive.get("Metrics"))
    return errors


def _check_dimensions(doc: dict, sets) -> list[str]:
    if not isinstance(sets, list):
        return ["Dimensions is missing or not an array"]
    errors = []
    for dims in sets:
        if not isinstance(dims, list) or len(dims) > 30:
            errors.append(f"dimension set {dims!r} is not an array of at most 30 names")
            continue
        if "service" not in dims:
            errors.append(f"dimension set {dims} lacks service")
        for name in dims:
            if not isinstance(name, str):
                errors.append(f"dimension name {name!r} is not a string")
            elif not isinstance(doc.get(name), str):
                errors.append(f"dimension {name} has no string member at the root")
            elif name.lower() in FORBIDDEN_DIMENSIONS:
                errors.append(f"dimension {name} would be a metric per person or job")
            elif PERSONAL.search(doc[name]):
                errors.append(f"dimension {name} holds a personal value")
    return errors


def _check_metrics(doc: dict, metrics) -> list[str]:
    if not isinstance(metrics, list) or len(metrics) > 100:
        return ["Metrics is missing or not an array of at most 100 definitions"]
    errors = []
    for metric in metrics:
        if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
            errors.append(f"metric definition {metric!r} has no Name string")
            continue
        name = metric["Name"]
        if "Unit" in metric and metric["Unit"] not in UNITS:
            errors.append(f"metric {name}: unit {metric['Unit']!r} is not CloudWatch's")
        if "StorageResolution" in metric and metric["StorageResolution"] not in (1, 60):
            errors.append(f"metric {name}: StorageResolution must be 1 or 60")
        value = doc.get(name)
        if _is_number(value):
            continue
        if isinstance(value, list) and 0 < len(value) <= 100 and all(map(_is_number, value)):
            continue
        errors.append(f"metric {name} has no number (or array of up to 100) at the root")
    return errors


def documents(lines):
    """(line number, parsed document or None) for every line that mentions `_aws`."""
    for number, line in enumerate(lines, 1):
        if '"_aws"' not in line:
            continue
        start = line.find("{")
        try:
            yield number, json.loads(line[start:]) if start >= 0 else None
        except json.JSONDecodeError:
            yield number, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", default=".local/logs/lambda.log", type=Path)
    parser.add_argument("--expect", action="append", default=[], metavar="SERVICE")
    args = parser.parse_args(argv)
    seen: dict[str, int] = {}
    failures = 0
    with args.log.open(encoding="utf-8", errors="replace") as log:
        for number, doc in documents(log):
            errors = ["not one JSON object"] if doc is None else check_document(doc)
            for error in errors:
                failures += 1
                print(f"{args.log}:{number}: {error}")
            if doc is not None and isinstance(doc.get("service"), str):
                seen[doc["service"]] = seen.get(doc["service"], 0) + 1
    for service in args.expect:
        if service not in seen:
            failures += 1
            print(f"{args.log}: no EMF document from {service}")
    summary = ", ".join(f"{s} {n}" for s, n in sorted(seen.items()))
    print(f"EMF: {sum(seen.values())} documents ({summary}); {failures} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
