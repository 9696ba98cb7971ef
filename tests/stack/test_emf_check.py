"""The EMF checker (tools/emf_check.py) that the stack's tests run over every function's
metric lines: it must pass what CloudWatch takes and catch what CloudWatch would drop or
what would make a metric per person."""

from __future__ import annotations

import copy

import pytest

import emf_check


def good() -> dict:
    return {
        "service": "hook-intake",
        "reason": "unauthorized",
        "DeliveriesRejected": 1.0,
        "IntakeLatency": [0.3, 1.2],
        "_aws": {
            "Timestamp": 1796232925034,
            "CloudWatchMetrics": [{
                "Namespace": "OktaLifecycle",
                "Dimensions": [["service", "reason"]],
                "Metrics": [
                    {"Name": "DeliveriesRejected", "Unit": "Count"},
                    {"Name": "IntakeLatency", "Unit": "Milliseconds"},
                ],
            }],
        },
    }


def test_a_document_as_our_writer_prints_it_passes():
    assert emf_check.check_document(good()) == []


def broken(change):
    doc = copy.deepcopy(good())
    change(doc)
    return emf_check.check_document(doc)


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
    (lambda d: d["_aws"].update(Timestamp="now"), "Timestamp"),
    (lambda d: d["_aws"].update(CloudWatchMetrics=[]), "CloudWatchMetrics"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="Other"), "Namespace"),
    (lambda d: d.pop("reason"), "dimension reason has no string member"),
    (lambda d: d.update(reason=3), "dimension reason has no string member"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[["reason"]]), "lacks service"),
    (lambda d: (d.update(user_id="x"),
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].append("user_id")),
     "per person"),
    (lambda d: d.update(reason="00uabcdefghij12345"), "personal value"),
    (lambda d: d.update(reason="ada@example.com"), "personal value"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Hours"), "unit"),
    (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(StorageResolution=5),
     "StorageResolution"),
    (lambda d: d.update(DeliveriesRejected="1"), "DeliveriesRejected has no number"),
    (lambda d: d.update(IntakeLatency=[1.0] * 101), "IntakeLatency has no number"),
    (lambda d: d.update(IntakeLatency=[True]), "IntakeLatency has no number"),
])
def test_each_rule_catches_its_breach(change, expected):
    errors = broken(change)
    assert any(expected in e for e in errors), errors


def test_a_log_with_a_bad_line_or_a_silent_service_fails(tmp_path, capsys):
    import json
    log = tmp_path / "lambda.log"
    log.write_text("\n".join([
        "INFO starting",
        json.dumps(good()),
        '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [',
    ]) + "\n")
    assert emf_check.main([str(log), "--expect", "hook-intake"]) == 1
    assert "not one JSON object" in capsys.readouterr().out
    log.write_text(json.dumps(good()) + "\n")
    assert emf_check.main([str(log), "--expect", "hook-intake"]) == 0
    assert emf_check.main([str(log), "--expect", "deprovision"]) == 1
