#!/usr/bin/env python3
"""moto's server, with performance fixes to DynamoDB's TransactWriteItems and to Query and
Scan answers, and two fixes to DynamoDB Streams.

moto backs up the whole table (a deep copy, stream records included) once per item of
every transaction, so a 100-item transaction against a table of a few thousand items
takes seconds and the local stack slows down the longer it runs. Here every condition is
evaluated first, without writing; if one fails, the transaction is cancelled with
moto's own per-item reasons and nothing was written (as in DynamoDB); if all hold, moto's
own code performs the writes, minus the backups it no longer needs. Requests, answers
and errors are otherwise moto's.

moto writes every answer through a serializer driven by the service's model, member by
member: about 1.3 ms an item, so a 1 MB page of a Query (2,000 audit lines) took 3 s and
reading a trail of 100,000 lines a minute. Query and Scan answers without binary values
are written with `json.dumps` here, the rest of the answer still by moto's serializer:
the same JSON, in a hundredth of the time.

Streams (read by tools/streams.py, the stand-in for Lambda's event source mapping):
moto emits stream records for PutItem, UpdateItem, DeleteItem and for every item of a
TransactWriteItems, but
- the server is threaded, and a record's sequence number is `len(records)` read before
  the record is appended: two writes at once can get the same number, and then a
  reader receives one record twice and a `batchItemFailures` entry names two records.
  Numbering and appending happen under one lock here;
- every GetRecords call stores a new iterator (about 1 KB) forever, so a reader polling
  an idle stream five times a second grows moto by tens of MB an hour. Here iterators
  expire 15 minutes after they were issued, as DynamoDB's do, and then GetRecords
  answers ExpiredIteratorException, as DynamoDB does.
"""

import json
import os
import threading
import time
import types

import copy as _copy

import moto.dynamodb.models as ddb_models
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.server import main

_skip_table_backup = threading.local()


def _deepcopy(obj, memo=None):
    if isinstance(obj, Table) and getattr(_skip_table_backup, "on", False):
        return obj
    return _copy.deepcopy(obj, memo)


ddb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=_copy.copy)
_original = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    errors = []
    try:
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            current = self.get_item(op["TableName"], key)
            condition = op.get("ConditionExpression")
            if condition is not None and not get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            ).expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
            else:
                errors.append((None, None, None))
    except Exception:
        # Anything unusual (unknown table, malformed request): moto's own path answers it.
        return _original(self, transact_items)
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    _skip_table_backup.on = True
    try:
        return _original(self, transact_items)
    finally:
        _skip_table_backup.on = False


DynamoDBBackend.transact_write_items = transact_write_items

_original_execute_result = DynamoResult.execute_result
# Answers whose items are written here rather than by moto's serializer.
FAST_ITEMS = ("Query", "Scan")


def plain_json(value) -> bool:
    """Whether `value` is JSON as it stands: no binary attribute (moto's serializer writes
    those as base64), no timestamp."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def execute_result(self, context):
    result = self.result
    items = result.get("Items") if isinstance(result, dict) else None
    if context.operation_model.name not in FAST_ITEMS or not items or not plain_json(items):
        return _original_execute_result(self, context)
    self._result = {**result, "Items": []}
    try:
        status, headers, body = _original_execute_result(self, context)
    finally:
        self._result = result
    answer = json.loads(body)
    answer["Items"] = items
    return status, headers, json.dumps(answer)


DynamoResult.execute_result = execute_result

_stream_lock = threading.Lock()
_original_shard_add = StreamShard.add


def _shard_add(self, old, new):
    with _stream_lock:
        return _original_shard_add(self, old, new)


StreamShard.add = _shard_add

ITERATOR_LIFETIME_SECONDS = 15 * 60
_original_iterator_init = ShardIterator.__init__


def _iterator_init(self, *args, **kwargs):
    _original_iterator_init(self, *args, **kwargs)
    self.issued_at = time.monotonic()


ShardIterator.__init__ = _iterator_init


def get_records(self, iterator_arn, limit):
    now = time.monotonic()
    # list() copies the dict in one step while other threads add iterators.
    for arn, it in list(self.shard_iterators.items()):
        if now - getattr(it, "issued_at", now) > ITERATOR_LIFETIME_SECONDS:
            self.shard_iterators.pop(arn, None)
    iterator = self.shard_iterators.get(iterator_arn)
    if iterator is None:
        raise JsonRESTError("ExpiredIteratorException",
                            "Iterator expired. The iterator was created more than 15 minutes ago.")
    return iterator.get(limit)


DynamoDBStreamsBackend.get_records = get_records

# What the table was asked, for benchmarks (tools/bench_burst.py): with MOTO_CALL_COUNTS
# set to a path, the counts are kept there as JSON, rewritten at most twice a second:
# `ops` (calls per table, operation and HTTP status) and `writes` (per table, operation
# and kind of item written, e.g. `Put USER/JOB` inside a TransactWriteItems, the items and
# the write units DynamoDB would bill: ceil(item size / 1 KB), twice inside a transaction;
# an item's size is taken after the write, as moto computes it).
_COUNTS_PATH = os.environ.get("MOTO_CALL_COUNTS")
_counts = {"ops": {}, "writes": {}}
_counts_lock = threading.Lock()
_counts_dirty = threading.Event()


def _kind(key: dict) -> str:
    part = lambda name: ((key.get(name) or {}).get("S") or "").split("#", 1)[0]
    return f"{part('pk')}/{part('sk')}"


def _units(backend, table: str, key: dict) -> int:
    try:
        item = backend.get_item(table, {k: key[k] for k in ("pk", "sk") if k in key})
    except Exception:  # a deleted item, a table without these keys
        item = None
    size = item.size() if item is not None else 0
    return max(1, -(-size // 1024))


def _tally(handler, status: int) -> None:
    op = handler._get_action() or "?"
    params = handler.body if isinstance(handler.body, dict) else {}
    table = params.get("TableName", "")
    written = []  # (table, "Op kind", units)
    if status == 200 and op in ("PutItem", "UpdateItem", "DeleteItem"):
        key = params.get("Key") or params.get("Item") or {}
        units = 1 if op == "DeleteItem" else _units(handler.dynamodb_backend, table, key)
        written.append((table, f"{op.removesuffix('Item')} {_kind(key)}", units))
    elif status == 200 and op == "TransactWriteItems":
        for entry in params.get("TransactItems", []):
            kind, spec = next(iter(entry.items()))
            key = spec.get("Key") or spec.get("Item") or {}
            t = spec.get("TableName", "")
            if kind == "ConditionCheck":
                written.append((t, f"ConditionCheck {_kind(key)}", 0))
                continue
            units = 1 if kind == "Delete" else _units(handler.dynamodb_backend, t, key)
            written.append((t, f"{kind} {_kind(key)}", 2 * units))
        table = ",".join(sorted({t for t, _, _ in written}))
    with _counts_lock:
        name = f"{table} {op} {status}"
        _counts["ops"][name] = _counts["ops"].get(name, 0) + 1
        for t, what, units in written:
            entry = _counts["writes"].setdefault(f"{t} {what}", {"items": 0, "units": 0})
            entry["items"] += 1
            entry["units"] += units
    _counts_dirty.set()


def _write_counts() -> None:
    while True:
        _counts_dirty.wait()
        _counts_dirty.clear()
        with _counts_lock:
            text = json.dumps(_counts, sort_keys=True)
        tmp = f"{_COUNTS_PATH}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, _COUNTS_PATH)
        time.sleep(0.5)


if _COUNTS_PATH:
    _original_call_action = DynamoHandler.call_action

    def call_action(self):
        answer = _original_call_action(self)
        try:
            _tally(self, int(answer[0]))
        except Exception:  # counting never changes an answer
            pass
        return answer

    DynamoHandler.call_action = call_action
    threading.Thread(target=_write_counts, name="call-counts", daemon=True).start()

if __name__ == "__main__":
    main()
