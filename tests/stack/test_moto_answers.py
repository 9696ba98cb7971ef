"""tools/moto_server.py's Query and Scan answers: the items it writes with `json.dumps`
read back exactly as written, binary values (left to moto's serializer) too, and the
answer is the one moto's own serializer gives."""

import json
import os

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

import moto_server

ITEM = {"pk": {"S": "USER#1"}, "sk": {"S": "AUDIT#1"}, "n": {"N": "1.5"}, "ok": {"BOOL": True},
        "none": {"NULL": True}, "tags": {"SS": ["a", "b"]}, "label": {"S": "Engineering, \"core\" é"},
        "nested": {"M": {"l": {"L": [{"S": "x"}, {"N": "2"}, {"M": {"deep": {"S": "y"}}}]}}}}


@pytest.fixture
def table():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="t",
                              aws_secret_access_key="t")
        client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}])
        yield client


def query(client):
    return client.query(TableName="t", KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "USER#1"}})


def test_query_and_scan_items_read_back_as_written(table):
    table.put_item(TableName="t", Item=ITEM)
    for answer in (query(table), table.scan(TableName="t")):
        assert answer["Items"] == [ITEM]
        assert answer["Count"] == 1


def test_binary_values_still_go_through_motos_serializer(table):
    item = {"pk": {"S": "USER#1"}, "sk": {"S": "AUDIT#2"}, "blob": {"B": b"\x00\xffbytes"}}
    table.put_item(TableName="t", Item=item)
    assert query(table)["Items"] == [item]


def test_the_answer_is_the_one_motos_serializer_gives(table, monkeypatch):
    for i in range(30):
        table.put_item(TableName="t", Item={**ITEM, "sk": {"S": f"AUDIT#{i:03}"}})
    paged = dict(TableName="t", KeyConditionExpression="pk = :p", Limit=7,
                 ExpressionAttributeValues={":p": {"S": "USER#1"}})
    ours = table.query(**paged)
    monkeypatch.setattr(DynamoResult, "execute_result", moto_server._original_execute_result)
    theirs = table.query(**paged)
    for answer in (ours, theirs):
        answer.pop("ResponseMetadata")
    assert json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)
    assert ours["LastEvaluatedKey"] == {"pk": ITEM["pk"], "sk": {"S": "AUDIT#006"}}
