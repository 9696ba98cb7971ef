"""The stream driver's logic (tools/streams.py) with a fake function and a fake stream:
the parts of Lambda's DynamoDB event source mapping that the deprovision function relies
on, checked against the mapping settings of infra/template.yaml."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import streams
from streams import BatchRunner, Result, Settings, interpret, lambda_record, passes, pattern_matches, route
from template import Template

ROOT = Path(__file__).resolve().parents[2]
MAPPING = Template(ROOT / "infra" / "template.yaml").stream_mapping()
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label"
SEQ0 = 1100000000017454423009


def record(n: int, pk: str = "USER#00u1", sk: str | None = None, event: str = "INSERT",
           status: str = "pending", created: float | None = None) -> dict:
    image = {"pk": {"S": pk}, "sk": {"S": sk or f"JOB#2025-01-01T00:00:{n:02d}.000Z#{n}"},
             "status": {"S": status}}
    return {
        "eventID": f"id{n}", "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1", "eventSourceARN": STREAM_ARN,
        "dynamodb": {"ApproximateCreationDateTime": created if created is not None else time.time(),
                     "Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image,
                     "SequenceNumber": str(SEQ0 + n), "SizeBytes": 100,
                     "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def seqs(records: list[dict]) -> list[int]:
    return [int(r["dynamodb"]["SequenceNumber"]) - SEQ0 for r in records]


class Harness:
    """A BatchRunner wired to a scripted function, a list as the queue, and no sleeping."""

    def __init__(self, answer, **overrides):
        settings = Settings.from_mapping({**MAPPING, **overrides})
        self.invocations: list[list[int]] = []
        self.dead: list[dict] = []
        self.sleeps: list[float] = []
        self.answer = answer

        def invoke(event: dict) -> Result:
            batch = event["Records"]
            self.invocations.append(seqs(batch))
            return self.answer(batch)

        self.runner = BatchRunner(settings, invoke, self.dead.append, shard_id="shardId-1",
                                  stream_arn=STREAM_ARN, sleep=self.sleeps.append)


def ok(batch):
    return Result()


# ---- the template's filters --------------------------------------------------------------

def test_template_filters_keep_new_jobs_and_retry_requests_only():
    filters = MAPPING["filters"]
    assert passes(filters, record(1))
    for status in ("retry_requested", "released", "retrying"):
        assert passes(filters, record(2, event="MODIFY", status=status)), status
    assert not passes(filters, record(3, event="MODIFY", status="done"))
    assert not passes(filters, record(4, event="REMOVE"))


def test_prefix_filter_drops_items_that_are_not_jobs():
    filters = MAPPING["filters"]
    assert not passes(filters, record(1, pk="EVENT#abc", sk="EVENT"))
    assert not passes(filters, record(2, pk="USER#00u1", sk="STATE"))
    assert not passes(filters, record(3, pk="CONFIG", sk="INTEGRATION"))
    assert not passes(filters, record(4, sk="job#lowercase"))


def test_pattern_semantics():
    doc = {"a": {"b": "x", "list": ["p", "q"]}, "n": 5}
    assert pattern_matches({"a": {"b": ["y", "x"]}}, doc)  # any element of the list
    assert pattern_matches({"a": {"list": ["q"]}}, doc)  # an array value matches any item
    assert not pattern_matches({"a": {"missing": ["x"]}}, doc)  # a missing key fails
    assert not pattern_matches({"a": {"b": {"c": ["x"]}}}, doc)  # nesting into a scalar fails
    assert pattern_matches({"a": {"missing": [{"exists": False}]}}, doc)
    assert not pattern_matches({"a": {"b": [{"exists": False}]}}, doc)
    assert pattern_matches({"n": [{"anything-but": [4]}]}, doc)
    assert not pattern_matches({"n": ["5"]}, doc)  # no type coercion
    assert passes([], {"anything": 1})  # no filters: everything
    with pytest.raises(ValueError):
        pattern_matches({"n": [{"numeric": [">", 1]}]}, doc)  # not implemented: say so


# ---- lanes ---------------------------------------------------------------------------------

def test_records_of_one_partition_key_stay_in_order_in_one_lane():
    users = [f"USER#00u{i}" for i in range(20)]
    records = [record(n, pk=users[n % len(users)]) for n in range(200)]
    lanes = route(records, "pk", 5)
    assert len(lanes) > 1, "20 users should spread over several of 5 lanes"
    lane_of_user = {}
    for lane, items in lanes.items():
        assert seqs(items) == sorted(seqs(items)), "a lane keeps stream order"
        for r in items:
            assert lane_of_user.setdefault(r["dynamodb"]["Keys"]["pk"]["S"], lane) == lane
    assert sum(len(v) for v in lanes.values()) == len(records)


# ---- results -------------------------------------------------------------------------------

def test_interpret_the_invoke_answers():
    assert interpret(200, None, b'{"batchItemFailures":[]}', True) == Result()
    assert interpret(200, None, b"", True) == Result()
    assert interpret(200, None, b"null", True) == Result()
    assert interpret(200, None, b'{"batchItemFailures":[{"itemIdentifier":"7"}]}', True).failures == ["7"]
    assert interpret(200, None, b'{"batchItemFailures":[{"itemIdentifier":"7"}]}', False) == Result()
    assert interpret(200, None, b'{"errorType":"Boom","errorMessage":"no table"}', True).error == "Boom: no table"
    assert interpret(500, None, b'{"errorType":"Boom","errorMessage":"x"}', True).error
    assert interpret(200, "Unhandled", b"{}", True).error
    assert interpret(502, None, b"bad gateway", True).error
    assert interpret(200, None, b'{"batchItemFailures":[{"itemIdentifier":""}]}', True).error
    assert interpret(200, None, b'{"batchItemFailures":[{"id":"7"}]}', True).error
    assert interpret(200, None, b'"a string"', True).error


def test_lambda_record_shape():
    raw = {"eventID": "e", "eventName": "INSERT", "eventVersion": "1.0", "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1",
           "dynamodb": {"ApproximateCreationDateTime": datetime(2025, 1, 2, 3, 4, 5, 600000, timezone.utc),
                        "Keys": {}, "SequenceNumber": "1", "SizeBytes": 1, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    out = lambda_record(raw, STREAM_ARN, "us-east-1")
    assert out["eventVersion"] == "1.1"
    assert out["eventSourceARN"] == STREAM_ARN
    assert out["dynamodb"]["ApproximateCreationDateTime"] == 1735787045
    assert isinstance(raw["dynamodb"]["ApproximateCreationDateTime"], datetime), "input left alone"


# ---- retries, bisection, dead letters ------------------------------------------------------

def test_a_batch_that_succeeds_is_invoked_once():
    h = Harness(ok)
    h.runner.run([record(n) for n in range(4)])
    assert h.invocations == [[0, 1, 2, 3]]
    assert h.dead == [] and h.sleeps == [0.0]


def test_a_reported_failure_retries_from_that_record_and_not_before():
    calls = []

    def answer(batch):
        calls.append(1)
        if len(calls) == 1:  # records 3 and 5 fail the first time
            return Result(failures=[str(SEQ0 + 5), str(SEQ0 + 3)])
        return Result()

    h = Harness(answer)
    h.runner.run([record(n) for n in range(7)])
    assert h.invocations == [[0, 1, 2, 3, 4, 5, 6], [3, 4, 5, 6]]
    assert h.dead == []
    assert h.sleeps == [0.0, 0.5]


def test_a_failure_report_naming_an_unknown_record_fails_the_whole_batch():
    calls = []

    def answer(batch):
        calls.append(1)
        return Result(failures=["999"]) if len(calls) == 1 else Result()

    h = Harness(answer, bisect=False)
    h.runner.run([record(n) for n in range(3)])
    assert h.invocations == [[0, 1, 2], [0, 1, 2]]


def test_bisection_isolates_a_poison_record():
    poison = SEQ0 + 6

    def answer(batch):
        if any(int(r["dynamodb"]["SequenceNumber"]) == poison for r in batch):
            return Result(error="Unhandled: poison")
        return Result()

    h = Harness(answer)  # the template's settings: bisect, 5 retries
    h.runner.run([record(n) for n in range(10)])
    succeeded = [b for b in h.invocations if 6 not in b]
    assert sorted(n for b in succeeded for n in b) == [0, 1, 2, 3, 4, 5, 7, 8, 9], \
        "every healthy record is processed exactly once"
    assert [b for b in h.invocations if 6 in b][-1] == [6], "bisected down to the poison record"
    assert len(h.dead) == 1
    info = h.dead[0]["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (str(poison), str(poison), 1)
    assert h.dead[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert sum(1 for b in h.invocations if 6 in b) == MAPPING["max_retries"] + 1, \
        "the poison record is tried once plus MaximumRetryAttempts times"
    order = [n for b in succeeded for n in b]
    assert order == sorted(order), "records before the poison one are done before those after it"


def test_exhausted_retries_go_to_the_dead_letter_queue_exactly_once():
    h = Harness(lambda batch: Result(error="Unhandled: table unreachable"), bisect=False, max_retries=2)
    batch = [record(n) for n in range(3)]
    h.runner.run(batch)
    assert h.invocations == [[0, 1, 2]] * 3
    assert h.sleeps == [0.0, 0.5, 1.0]
    assert len(h.dead) == 1
    msg = h.dead[0]
    assert msg["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert msg["requestContext"]["approximateInvokeCount"] == 3
    assert msg["responseContext"]["functionError"] == "Unhandled"
    info = msg["DDBStreamBatchInfo"]
    assert info == {**info, "shardId": "shardId-1", "streamArn": STREAM_ARN, "batchSize": 3,
                    "startSequenceNumber": str(SEQ0), "endSequenceNumber": str(SEQ0 + 2)}


def test_retries_back_off_up_to_a_cap():
    h = Harness(lambda batch: Result(error="Unhandled"), bisect=False, max_retries=7)
    h.runner.run([record(0)])
    assert h.sleeps == [0.0, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert len(h.dead) == 1


def test_partial_failures_also_exhaust_and_dead_letter_the_rest_of_the_batch():
    h = Harness(lambda batch: Result(failures=[str(SEQ0 + 1)]), max_retries=1)
    h.runner.run([record(n) for n in range(3)])
    assert h.invocations == [[0, 1, 2], [1, 2]]
    (msg,) = h.dead
    assert (msg["DDBStreamBatchInfo"]["startSequenceNumber"], msg["DDBStreamBatchInfo"]["batchSize"]) == (str(SEQ0 + 1), 2)
    assert msg["responseContext"]["functionError"] == ""


def test_records_older_than_the_maximum_age_are_not_invoked():
    now = time.time()
    h = Harness(ok)
    h.runner.clock = lambda: now
    old = [record(n, created=now - MAPPING["max_record_age"] - 10) for n in range(2)]
    fresh = [record(n, created=now - 5) for n in range(2, 4)]
    h.runner.run(old + fresh)
    assert h.invocations == [[2, 3]]
    (msg,) = h.dead
    assert msg["requestContext"]["condition"] == "RecordAgeExceeded"
    assert msg["DDBStreamBatchInfo"]["batchSize"] == 2


# ---- the threads around it, with a fake stream ---------------------------------------------

class ExpiredIteratorException(Exception):
    """Named like botocore's modelled exception, which is what the reader checks."""


class FakeStreams:
    """One open shard with a fixed set of records; the second GetRecords call answers
    ExpiredIteratorException once, as DynamoDB does for an iterator older than 15 min."""

    def __init__(self, raws: list[dict]):
        self.raws = raws
        self.calls = 0

    def describe_stream(self, StreamArn):
        return {"StreamDescription": {"Shards": [{"ShardId": "shardId-000001"}]}}

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None):
        start = 0 if ShardIteratorType == "TRIM_HORIZON" else int(SequenceNumber) - SEQ0 + 1
        return {"ShardIterator": str(start)}

    def get_records(self, ShardIterator, Limit):
        self.calls += 1
        if self.calls == 2:
            raise ExpiredIteratorException("Iterator expired")
        start = int(ShardIterator)
        page = self.raws[start:start + 3]
        return {"Records": page, "NextShardIterator": str(start + len(page))}


def test_the_driver_filters_routes_and_delivers_every_job_once_in_order(monkeypatch):
    monkeypatch.setattr(streams, "IDLE_POLL_SECONDS", 0.01)
    monkeypatch.setattr(streams, "log_line", lambda line: None)
    users = ["USER#00ua", "USER#00ub", "USER#00uc"]
    raws = []
    for n in range(30):
        r = record(n, pk=users[n % 3]) if n % 4 else record(n, pk=f"EVENT#{n}", sk="EVENT")
        del r["eventSourceARN"]
        r["dynamodb"]["ApproximateCreationDateTime"] = datetime.now(timezone.utc)
        raws.append(r)
    delivered: list[dict] = []
    lock = threading.Lock()

    def invoke(event):
        with lock:
            delivered.extend(event["Records"])
        return Result()

    settings = Settings.from_mapping({**MAPPING, "batching_window": 0.05})
    driver = streams.Driver(settings, FakeStreams(raws), STREAM_ARN, "pk", invoke, lambda m: None, "us-east-1")
    driver.refresh(first=True)
    expected = [n for n in range(30) if n % 4]
    deadline = time.monotonic() + 10
    while len(delivered) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # nothing more arrives: no duplicates
    assert sorted(seqs(delivered)) == expected
    for user in users:
        of_user = [r for r in delivered if r["dynamodb"]["Keys"]["pk"]["S"] == user]
        assert seqs(of_user) == sorted(seqs(of_user))
    assert all(r["eventSourceARN"] == STREAM_ARN and isinstance(r["dynamodb"]["ApproximateCreationDateTime"], int)
               for r in delivered)
