"""tools/drops.py's logic without servers: which versions are new, the event it sends
(and whether the template's pattern takes it), retries then the dead-letter queue."""

import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import drops  # noqa: E402
from streams import Result, pattern_matches  # noqa: E402
from template import Template  # noqa: E402


def version(key, vid, modified="2026-12-03T10:00:00Z"):
    return {"Key": key, "VersionId": vid, "LastModified": modified, "Size": 10, "ETag": '"e"'}


def test_each_version_is_new_once_and_in_the_order_written():
    seen = set()
    first = drops.new_versions([version("incoming/b.csv", "2", "2026-12-03T10:00:02Z"),
                                version("incoming/a.csv", "1", "2026-12-03T10:00:01Z")], seen)
    assert [v["Key"] for v in first] == ["incoming/a.csv", "incoming/b.csv"]
    again = drops.new_versions([version("incoming/a.csv", "1"), version("incoming/a.csv", "3")], seen)
    assert [(v["Key"], v["VersionId"]) for v in again] == [("incoming/a.csv", "3")]


def test_the_event_matches_the_templates_rule_for_incoming_files_only():
    rule = Template(ROOT / "infra" / "template.yaml").s3_drop_rule()
    assert rule["function"] == "sync" and rule["reserved_concurrency"] == 1
    pattern = rule["pattern"]
    pattern["detail"]["bucket"]["name"] = ["bkt"]
    event = drops.object_created("bkt", version("incoming/people 2026.csv", "v9"), "us-east-1")
    assert event["detail"]["object"] == {"key": "incoming/people 2026.csv", "size": 10,
                                         "etag": "e", "version-id": "v9"}
    assert pattern_matches(pattern, event)
    assert not pattern_matches(pattern, drops.object_created("bkt", version("plans/x.json", "1"), "r"))
    assert not pattern_matches(pattern, drops.object_created("other", version("incoming/a", "1"), "r"))


def test_a_failing_invocation_is_retried_then_dead_lettered():
    calls, letters = [], []

    def invoke(event):
        calls.append(event)
        return Result(error="Busy: drop is being planned")

    event = drops.object_created("bkt", version("incoming/a.csv", "1"), "r")
    drops.deliver(event, invoke, retries=2, delay=0.0, dead_letter=letters.append,
                  running=threading.Lock())
    assert len(calls) == 3
    assert len(letters) == 1
    assert letters[0]["requestPayload"] == event
    assert letters[0]["requestContext"]["approximateInvokeCount"] == 3


def test_a_success_is_delivered_once():
    calls, letters = [], []
    drops.deliver({"detail": {"object": {"key": "k"}}}, lambda e: calls.append(e) or Result(),
                  retries=2, delay=0.0, dead_letter=letters.append)
    assert len(calls) == 1 and letters == []
