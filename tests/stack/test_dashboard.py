"""The ops dashboard in infra/template.yaml: its body is JSON once `!Sub` fills it in (a
broken body deploys nothing), every alarm it shows exists, and every function's cold
starts and the figures the README's runbook names are on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from template import Template

ROOT = Path(__file__).resolve().parents[2]


def dashboard():
    t = Template(ROOT / "infra" / "template.yaml")
    (_, res), = t.of_type("AWS::CloudWatch::Dashboard").items()
    body = res["Properties"]["DashboardBody"]["Sub"]
    refs = set(re.findall(r"\$\{([A-Za-z0-9:.]+)\}", body))
    filled = re.sub(r"\$\{[A-Za-z0-9:.]+\}", "x", body)
    return t, json.loads(filled), refs


def test_the_body_is_json_and_every_alarm_it_names_exists():
    t, body, refs = dashboard()
    alarms = set(t.of_type("AWS::CloudWatch::Alarm"))
    named = {r.split(".")[0] for r in refs if r.endswith(".Arn")}
    assert named == alarms, f"on the dashboard but not alarms: {named - alarms}; " \
                            f"alarms not on it: {alarms - named}"
    assert body["widgets"], "no widgets"


def test_figures_on_the_dashboard():
    _, body, _ = dashboard()
    metrics = [m for w in body["widgets"] for m in w["properties"].get("metrics", [])]
    names = {m[1] for m in metrics if isinstance(m, list) and m[0] == "OktaLifecycle"}
    assert {"ColdStart", "TimeToRemoval", "Actions"} <= names, names
    cold, = [w for w in body["widgets"] if w["properties"].get("title") == "Cold starts"]
    services = {m[-1] for m in cold["properties"]["metrics"]}
    assert services == {"hook-intake", "hook-verify", "deprovision", "log-poller", "actions"}
