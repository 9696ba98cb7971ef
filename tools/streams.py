#!/usr/bin/env python3
"""The local stand-in for Lambda's DynamoDB event source mapping: reads the table's
stream from moto and invokes the stream function through `cargo lambda watch` the way
Lambda would, with every setting taken from the function's `Type: DynamoDB` event in
infra/template.yaml.

What it reproduces, because the deprovision function's correctness depends on it:
- event filtering (`FilterCriteria`): a record that matches no pattern is dropped
  silently, before batching;
- `ParallelizationFactor`: a shard's records go to N lanes by a hash of the partition
  key, so one user's records stay in order while different users run side by side;
- batching: up to `BatchSize` records, waiting at most `MaximumBatchingWindowInSeconds`;
- `ReportBatchItemFailures`: the records before the lowest reported sequence number are
  done, the batch is retried from that record;
- a function error (the handler returned Err, timed out, or answered garbage) retries
  the batch, halved first when `BisectBatchOnFunctionError` is set;
- after `MaximumRetryAttempts` (per record) or `MaximumRecordAgeInSeconds`, one message
  describing the records goes to the `DestinationConfig.OnFailure` SQS queue and the
  lane moves on.

The logic is in plain functions and in `BatchRunner`, which take the invocation and the
dead-letter sink as arguments, so tests/stack/test_streams.py runs them without servers.
One line per invocation goes to stderr.

    streams.py --lambda-url URL --stream-arn ARN --dlq-url URL [--template PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SHARD_REFRESH_SECONDS = 10.0
IDLE_POLL_SECONDS = 0.2
BACKOFF_FIRST, BACKOFF_CAP = 0.5, 5.0


# ---- event filtering -------------------------------------------------------------------

def _value_matches(rule, value) -> bool:
    """One element of a pattern's list against one value: an exact value, or one of
    the content filters Lambda supports that the template may use."""
    if isinstance(rule, dict):
        (op, arg), = rule.items()
        if op == "prefix":
            return isinstance(value, str) and value.startswith(arg)
        if op == "anything-but":
            options = arg if isinstance(arg, list) else [arg]
            return value not in options
        if op == "exists":  # handled by the caller, which knows whether the key is there
            return bool(arg)
        raise ValueError(f"filter operator {op!r} is not implemented by tools/streams.py")
    return rule == value


def pattern_matches(pattern: dict, doc) -> bool:
    """Lambda's event-pattern semantics: every key of the pattern must match; a nested
    object recurses; a list matches when any of its elements matches the value (or, for
    an array in the record, any of the array's values)."""
    if not isinstance(doc, dict):
        return False
    for key, rule in pattern.items():
        if isinstance(rule, dict):
            if key not in doc or not pattern_matches(rule, doc[key]):
                return False
            continue
        if not isinstance(rule, list):
            raise ValueError(f"pattern value for {key!r} must be an object or a list")
        exists_rules = [r for r in rule if isinstance(r, dict) and "exists" in r]
        if key not in doc:
            if not any(r["exists"] is False for r in exists_rules):
                return False
            continue
        values = doc[key] if isinstance(doc[key], list) else [doc[key]]
        if not any(_value_matches(r, v) for r in rule for v in values):
            return False
    return True


def passes(filters: list[dict], record: dict) -> bool:
    """A record is kept when it matches any filter (OR); with no filters, all are."""
    return not filters or any(pattern_matches(f, record) for f in filters)


# ---- records, lanes, events ------------------------------------------------------------

def lambda_record(raw: dict, stream_arn: str, region: str) -> dict:
    """A GetRecords record in the shape of a Lambda DynamoDB event record: Lambda adds
    `eventSourceARN`, sends `eventVersion` 1.1 and the creation time as epoch seconds,
    where boto3 returns a datetime."""
    dynamodb = dict(raw["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion", region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def sequence(record: dict) -> str:
    return record["dynamodb"]["SequenceNumber"]


def arrival(record: dict) -> float:
    return float(record["dynamodb"].get("ApproximateCreationDateTime", 0))


def lane_of(record: dict, hash_key: str, lanes: int) -> int:
    """The lane of a record: a stable hash of its partition key, so that all records of
    one key go through one lane, in order."""
    key = json.dumps(record["dynamodb"]["Keys"][hash_key], sort_keys=True)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % lanes


def route(records: list[dict], hash_key: str, lanes: int) -> dict[int, list[dict]]:
    """Splits records (in stream order) into lanes, keeping stream order in each lane."""
    out: dict[int, list[dict]] = {}
    for record in records:
        out.setdefault(lane_of(record, hash_key, lanes), []).append(record)
    return out


# ---- the function's answer -------------------------------------------------------------

@dataclass
class Result:
    """What an invocation came to: a function error, or success with the sequence
    numbers the function reported as failed (empty when all succeeded)."""
    error: str | None = None
    failures: list[str] = field(default_factory=list)


def interpret(status: int, function_error: str | None, body: bytes, report_item_failures: bool) -> Result:
    """Maps the invoke API's answer to Lambda's view of it. A function error is an HTTP
    error status, an `X-Amz-Function-Error` header (AWS's invoke API), or an
    `{"errorType","errorMessage"}` body: `cargo lambda watch` answers a handler's Err (or an
    event it cannot deserialize) with HTTP 500 and that body, without the header. With
    ReportBatchItemFailures, an answer that is not a valid `batchItemFailures` document
    fails the whole batch, as in Lambda."""
    try:
        doc = json.loads(body) if body.strip() else None
    except ValueError:
        doc = body.decode("utf-8", "replace")
    if isinstance(doc, dict) and "errorType" in doc and "errorMessage" in doc:
        return Result(error=f"{doc['errorType']}: {doc['errorMessage']}")
    if status >= 400 or function_error:
        return Result(error=f"{function_error or 'HTTP ' + str(status)}: {str(doc)[:300]}")
    if not report_item_failures or doc is None:
        return Result()
    if not isinstance(doc, dict):
        return Result(error=f"invalid response: {str(doc)[:300]}")
    items = doc.get("batchItemFailures")
    if not items:
        return Result()
    if not isinstance(items, list):
        return Result(error="invalid response: batchItemFailures is not a list")
    ids = [i.get("itemIdentifier") if isinstance(i, dict) else None for i in items]
    if not all(isinstance(i, str) and i for i in ids):
        return Result(error="invalid response: an itemIdentifier is missing or empty")
    return Result(failures=ids)


# ---- retries, bisection, dead letters --------------------------------------------------

@dataclass
class Settings:
    """The mapping's settings (see Template.stream_mapping)."""
    function: str
    batch_size: int = 100
    batching_window: float = 0.0
    parallelization: int = 1
    max_retries: int = -1
    max_record_age: int = -1
    bisect: bool = False
    report_item_failures: bool = False
    filters: list[dict] = field(default_factory=list)
    timeout: int = 3
    starting_position: str = "TRIM_HORIZON"

    @classmethod
    def from_mapping(cls, mapping: dict) -> "Settings":
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in mapping.items() if k in names})


def backoff(attempts: int) -> float:
    """Delay before the next try of records that failed `attempts` times."""
    return 0.0 if attempts <= 0 else min(BACKOFF_FIRST * 2 ** (attempts - 1), BACKOFF_CAP)


class BatchRunner:
    """Runs one batch of one lane to the end: every record is either processed or sent
    to the dead-letter queue when this returns, in stream order.

    invoke(event) -> Result; dead_letter(message) sends one on-failure message."""

    def __init__(self, settings: Settings, invoke: Callable[[dict], Result],
                 dead_letter: Callable[[dict], None], *, shard_id: str, stream_arn: str,
                 region: str = "us-east-1", sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, log: Callable[[dict], None] | None = None):
        self.s = settings
        self.invoke = invoke
        self.dead_letter = dead_letter
        self.shard_id = shard_id
        self.stream_arn = stream_arn
        self.function_arn = f"arn:aws:lambda:{region}:000000000000:function:{settings.function}"
        self.sleep = sleep
        self.clock = clock
        self.log = log or (lambda line: None)

    def run(self, batch: list[dict]) -> None:
        attempts = {sequence(r): 0 for r in batch}  # failed invocations per record
        segments = [batch]
        while segments:
            segment = segments.pop(0)
            segment = self._drop_expired(segment, attempts)
            if not segment:
                continue
            self.sleep(backoff(max(attempts[sequence(r)] for r in segment)))
            started = time.monotonic()
            result = self.invoke({"Records": segment})
            line = {"function": self.s.function, "shard": self.shard_id, "size": len(segment),
                    "first": sequence(segment[0]), "last": sequence(segment[-1]),
                    "ms": round((time.monotonic() - started) * 1000)}
            if result.error is None and self.s.report_item_failures and result.failures:
                positions = {sequence(r): i for i, r in enumerate(segment)}
                unknown = [f for f in result.failures if f not in positions]
                if unknown:
                    result = Result(error=f"batchItemFailures names records not in the batch: {unknown}")
                else:
                    start = min(positions[f] for f in result.failures)
                    self.log({**line, "outcome": "partial", "done": start,
                              "retry_from": sequence(segment[start])})
                    self._failed(segment[start:], attempts, segments, None, bisect=False)
                    continue
            if result.error is None:
                self.log({**line, "outcome": "ok"})
                continue
            self.log({**line, "outcome": "error", "error": result.error})
            self._failed(segment, attempts, segments, "Unhandled", bisect=self.s.bisect)

    def _failed(self, failed: list[dict], attempts: dict[str, int], segments: list[list[dict]],
                function_error: str | None, bisect: bool) -> None:
        """Counts a failed try of `failed` and queues its retry (first, to keep order),
        halved if asked, or gives it up once a record has used all its retries."""
        for r in failed:
            attempts[sequence(r)] += 1
        tries = max(attempts[sequence(r)] for r in failed)
        if 0 <= self.s.max_retries < tries:
            self._send(failed, "RetryAttemptsExhausted", tries, function_error)
            return
        if bisect and len(failed) > 1:
            half = (len(failed) + 1) // 2
            segments[:0] = [failed[:half], failed[half:]]
        else:
            segments.insert(0, failed)

    def _drop_expired(self, segment: list[dict], attempts: dict[str, int]) -> list[dict]:
        """Gives up the records older than MaximumRecordAgeInSeconds (a prefix: a lane is
        in stream order) and returns the rest."""
        if self.s.max_record_age < 0:
            return segment
        now = self.clock()
        cut = 0
        while cut < len(segment) and now - arrival(segment[cut]) > self.s.max_record_age:
            cut += 1
        if cut:
            tries = max(attempts[sequence(r)] for r in segment[:cut])
            self._send(segment[:cut], "RecordAgeExceeded", tries, None)
        return segment[cut:]

    def _send(self, records: list[dict], condition: str, tries: int, function_error: str | None) -> None:
        """One on-failure message in Lambda's format for stream sources: where the
        records are (shard, sequence range), not the records themselves."""
        iso = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        message = {
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": self.function_arn,
                               "condition": condition, "approximateInvokeCount": tries},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                                "functionError": function_error or ""},
            "version": "1.0",
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": sequence(records[0]),
                "endSequenceNumber": sequence(records[-1]),
                "approximateArrivalOfFirstRecord": iso(arrival(records[0])),
                "approximateArrivalOfLastRecord": iso(arrival(records[-1])),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self.dead_letter(message)
        self.log({"function": self.s.function, "shard": self.shard_id, "outcome": "dead-letter",
                  "condition": condition, "size": len(records), "first": sequence(records[0]),
                  "last": sequence(records[-1])})


# ---- the running driver ----------------------------------------------------------------

def http_invoker(lambda_url: str, function: str, timeout: float,
                 report_item_failures: bool) -> Callable[[dict], Result]:
    """Invokes through `cargo lambda watch`'s Lambda invoke API."""
    url = f"{lambda_url.rstrip('/')}/2015-03-31/functions/{function}/invocations"

    def invoke(event: dict) -> Result:
        req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return interpret(resp.status, resp.headers.get("x-amz-function-error"), resp.read(),
                                 report_item_failures)
        except urllib.error.HTTPError as e:
            return interpret(e.code, e.headers.get("x-amz-function-error"), e.read(), report_item_failures)
        except (TimeoutError, urllib.error.URLError, ConnectionError) as e:
            return Result(error=f"invoke failed: {e}")

    return invoke


def log_line(line: dict) -> None:
    line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **line}
    print(json.dumps(line), file=sys.stderr, flush=True)


class Lane(threading.Thread):
    """One lane: takes records in order, batches them, runs each batch to the end
    before the next, as Lambda does for one lane of a shard."""

    def __init__(self, settings: Settings, runner: BatchRunner, name: str):
        super().__init__(name=name, daemon=True)
        self.s = settings
        self.runner = runner
        self.records: queue.Queue = queue.Queue()

    def run(self) -> None:
        while True:
            batch = [self.records.get()]
            deadline = time.monotonic() + self.s.batching_window
            while len(batch) < self.s.batch_size:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(self.records.get(timeout=max(remaining, 0)) if remaining > 0
                                 else self.records.get_nowait())
                except queue.Empty:
                    break
            try:
                self.runner.run(batch)
            except Exception as e:  # e.g. the queue unreachable: say so, keep the lane alive
                log_line({"outcome": "lane-error", "lane": self.name, "error": str(e)[:300],
                          "first": sequence(batch[0]), "last": sequence(batch[-1])})


class ShardReader(threading.Thread):
    """Reads one shard from its starting position to its end (a closed shard) or
    forever, filtering and routing records to the shard's lanes."""

    def __init__(self, driver: "Driver", shard: dict, position: str):
        super().__init__(name=f"shard-{shard['ShardId'][-8:]}", daemon=True)
        self.driver = driver
        self.shard = shard
        self.position = position
        self.finished = threading.Event()

    def run(self) -> None:
        d = self.driver
        parent = d.readers.get(self.shard.get("ParentShardId", ""))
        if parent is not None:
            parent.finished.wait()  # Lambda finishes a parent shard before its children
        lanes = [Lane(d.settings, d.runner_for(self.shard["ShardId"]), f"{self.name}-lane{i}")
                 for i in range(d.settings.parallelization)]
        for lane in lanes:
            lane.start()
        last_seq = None
        iterator = None
        while True:
            try:
                if iterator is None:
                    args = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last_seq}
                            if last_seq else {"ShardIteratorType": self.position})
                    iterator = d.streams.get_shard_iterator(StreamArn=d.stream_arn,
                                                            ShardId=self.shard["ShardId"], **args)["ShardIterator"]
                page = d.streams.get_records(ShardIterator=iterator, Limit=1000)
            except Exception as e:  # expired iterator, moto restarting: start over from the last record
                if type(e).__name__ != "ExpiredIteratorException":
                    log_line({"shard": self.shard["ShardId"], "outcome": "read-error", "error": str(e)[:300]})
                    time.sleep(1)
                iterator = None
                continue
            records = [lambda_record(r, d.stream_arn, d.region) for r in page.get("Records", [])]
            if records:
                last_seq = sequence(records[-1])
            kept = [r for r in records if passes(d.settings.filters, r)]
            for lane, items in route(kept, d.hash_key, d.settings.parallelization).items():
                for item in items:
                    lanes[lane].records.put(item)
            iterator = page.get("NextShardIterator")
            if iterator is None:
                self.finished.set()
                return
            if not records:
                time.sleep(IDLE_POLL_SECONDS)


class Driver:
    """Finds the stream's shards (again every SHARD_REFRESH_SECONDS, for new ones) and
    keeps one reader per shard."""

    def __init__(self, settings: Settings, streams, stream_arn: str, hash_key: str,
                 invoke: Callable[[dict], Result], dead_letter: Callable[[dict], None], region: str):
        self.settings = settings
        self.streams = streams
        self.stream_arn = stream_arn
        self.hash_key = hash_key
        self.invoke = invoke
        self.dead_letter = dead_letter
        self.region = region
        self.readers: dict[str, ShardReader] = {}

    def runner_for(self, shard_id: str) -> BatchRunner:
        return BatchRunner(self.settings, self.invoke, self.dead_letter, shard_id=shard_id,
                           stream_arn=self.stream_arn, region=self.region, log=log_line)

    def refresh(self, first: bool) -> None:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            if shard["ShardId"] in self.readers:
                continue
            # Shards that exist at start begin at the mapping's StartingPosition; shards
            # that appear later are read from their beginning.
            reader = ShardReader(self, shard, self.settings.starting_position if first else "TRIM_HORIZON")
            self.readers[shard["ShardId"]] = reader
            reader.start()
            log_line({"shard": shard["ShardId"], "outcome": "reading", "lanes": self.settings.parallelization})

    def serve(self) -> None:
        first = True
        while True:
            try:
                self.refresh(first)
                first = False
            except Exception as e:
                log_line({"outcome": "describe-error", "error": str(e)[:300]})
            time.sleep(SHARD_REFRESH_SECONDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambda-url", required=True)
    parser.add_argument("--stream-arn", required=True)
    parser.add_argument("--dlq-url", required=True)
    parser.add_argument("--template", default=str(ROOT / "infra" / "template.yaml"))
    args = parser.parse_args()

    import boto3
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from template import Template

    template = Template(Path(args.template))
    mapping = template.stream_mapping()
    settings = Settings.from_mapping(mapping)
    region = boto3.session.Session().region_name or "us-east-1"
    sqs = boto3.client("sqs")
    invoke = http_invoker(args.lambda_url, settings.function, settings.timeout + 5,
                          settings.report_item_failures)

    def dead_letter(message: dict) -> None:
        sqs.send_message(QueueUrl=args.dlq_url, MessageBody=json.dumps(message))

    log_line({"outcome": "start", "function": settings.function,
              **{k: v for k, v in mapping.items() if k not in ("filters",)}})
    Driver(settings, boto3.client("dynamodbstreams"), args.stream_arn, template.hash_key(),
           invoke, dead_letter, region).serve()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
