#!/usr/bin/env python3
"""moto's server, with one performance fix to DynamoDB's TransactWriteItems.

moto backs up the whole table (a deep copy, stream records included) once per item of
every transaction, so a 100-item transaction against a table of a few thousand items
takes seconds and the local stack slows down the longer it runs. Here every condition is
evaluated first, without writing; if one fails, the transaction is cancelled with
moto's own per-item reasons and nothing was written (as in DynamoDB); if all hold, moto's
own code performs the writes, minus the backups it no longer needs. Requests, answers
and errors are otherwise moto's.
"""

import threading
import types

import copy as _copy

import moto.dynamodb.models as ddb_models
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
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

if __name__ == "__main__":
    main()
