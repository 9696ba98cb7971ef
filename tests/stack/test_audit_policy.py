"""audit_policy.py against infra/template.yaml: no role or policy of the template can change
or remove an audit line, every function's role denies it explicitly, and the audit table
keeps its lines; and the checker catches each kind of grant that would break that when one
is planted into a copy of the template."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest

from audit_policy import ITEM_CHANGES, check
from template import Template

ROOT = Path(__file__).resolve().parents[2]
AUDIT_ARN = {"GetAtt": "AuditTable.Arn"}
AUDIT_INDEXES = {"Sub": "${AuditTable.Arn}/index/*"}


@functools.cache
def _parsed() -> Template:
    return Template(ROOT / "infra" / "template.yaml")


def project() -> Template:
    """The project's template (a fresh copy: tests may change it)."""
    return planted(lambda _: None)


def planted(change) -> Template:
    """A copy of the project's template with `change(resources)` applied."""
    t = copy.copy(_parsed())
    t.doc = copy.deepcopy(t.doc)
    t.resources = t.doc["Resources"]
    change(t.resources)
    return t


def statements(resources: dict, function: str) -> list:
    return resources[function]["Properties"]["Policies"][0]["Statement"]


def allow(actions, resource) -> dict:
    return {"Sid": "Planted", "Effect": "Allow", "Action": actions, "Resource": resource}


def test_no_role_or_policy_of_the_template_can_rewrite_the_audit_trail():
    assert check(project()) == []


def test_the_functions_that_write_audit_lines_may_only_put_them():
    t = project()
    for name, res in t.functions().items():
        grants = [s for s in statements(t.resources, name)
                  if s["Effect"] == "Allow" and AUDIT_ARN in (s["Resource"] if isinstance(s["Resource"], list)
                                                               else [s["Resource"]])]
        for s in grants:
            assert s["Action"] == "dynamodb:PutItem", (name, s)
    writers = {n for n in t.functions()
               if any(s.get("Sid") == "AuditLinesPutOnly" for s in statements(t.resources, n))}
    # The poller writes one when it hands on a job abandoned while running.
    assert writers == {"DeprovisionFunction", "ActionsFunction", "SyncFunction", "LogPollerFunction"}


def test_the_audit_table_keeps_its_lines():
    t = project()
    res = t.resources["AuditTable"]
    props = res["Properties"]
    assert res["DeletionPolicy"] == "Retain" and res["UpdateReplacePolicy"] == "Retain"
    assert props["DeletionProtectionEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert "TimeToLiveSpecification" not in props, "no TTL on the audit table"
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "audit_time"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["audit_day", "sk"]
    # The state table no longer carries the audit index.
    state = t.table()[1]
    assert "audit_time" not in [i["IndexName"] for i in state.get("GlobalSecondaryIndexes", [])]
    # Every function is told where the trail is, and the stack says so.
    env = t.doc["Globals"]["Function"]["Environment"]["Variables"]
    assert env["AUDIT_TABLE_NAME"] == {"Ref": "AuditTable"}
    assert t.doc["Outputs"]["AuditTableName"]["Value"] == {"Ref": "AuditTable"}


def grant_to(function: str, statement: dict):
    return lambda r: statements(r, function).append(statement)


# Each a grant that would let some principal change or remove an audit line.
VIOLATIONS = {
    "UpdateItem on the audit table": grant_to("DeprovisionFunction", allow("dynamodb:UpdateItem", AUDIT_ARN)),
    "DeleteItem on it in a list": grant_to("ActionsFunction", allow(["dynamodb:GetItem", "dynamodb:DeleteItem"],
                                                                    [{"GetAtt": "Table.Arn"}, AUDIT_ARN])),
    "BatchWriteItem through a table wildcard": grant_to("SyncFunction", allow(
        "dynamodb:BatchWriteItem",
        {"Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"})),
    "dynamodb:* on everything": grant_to("HookVerifyFunction", allow("dynamodb:*", "*")),
    "any action on the audit table": grant_to("HookIntakeFunction", allow("*", AUDIT_ARN)),
    "an Update* wildcard on its index": grant_to("LogPollerFunction", allow("dynamodb:Update*", AUDIT_INDEXES)),
    "PartiQL delete, lower case": grant_to("DeprovisionFunction", allow("dynamodb:partiqldelete", AUDIT_ARN)),
    "PartiQL insert": grant_to("DeprovisionFunction", allow("dynamodb:PartiQLInsert", AUDIT_ARN)),
    "the audit table named through !Sub": grant_to("DeprovisionFunction", allow(
        "dynamodb:UpdateItem",
        {"Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${AuditTable}"})),
    "a table named by a parameter": grant_to("DeprovisionFunction", allow(
        "dynamodb:DeleteItem",
        {"Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${DryRun}"})),
    "NotAction allowing the rest": grant_to("SyncFunction", {"Effect": "Allow", "NotAction": "s3:*",
                                                             "Resource": AUDIT_ARN}),
    "NotResource": grant_to("SyncFunction", {"Effect": "Allow", "Action": "dynamodb:DeleteItem",
                                             "NotResource": {"GetAtt": "Table.Arn"}}),
    "DeleteTable": grant_to("ActionsFunction", allow("dynamodb:DeleteTable", AUDIT_ARN)),
    "turning point-in-time recovery off": grant_to("ActionsFunction",
                                                   allow("dynamodb:UpdateContinuousBackups", AUDIT_ARN)),
    "a function allowed Scan* besides": grant_to("ActionsFunction", allow("dynamodb:Scan*", AUDIT_ARN)),
    "SAM's DynamoDBCrudPolicy on the audit table": lambda r: r["SyncFunction"]["Properties"]["Policies"].append(
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "AuditTable"}}}),
    "SAM's DynamoDBWritePolicy on a table by parameter": lambda r: r["SyncFunction"]["Properties"][
        "Policies"].append({"DynamoDBWritePolicy": {"TableName": {"Ref": "SyncScopeGroup"}}}),
    "an AWS managed policy": lambda r: r["SyncFunction"]["Properties"]["Policies"].append(
        "AmazonDynamoDBFullAccess"),
    "a role of the template": lambda r: r.update(Operator={
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": {"Statement": []},
                       "Policies": [{"PolicyName": "p", "PolicyDocument": {
                           "Statement": [allow("dynamodb:UpdateItem", AUDIT_ARN)]}}]}}),
    "a role with AdministratorAccess": lambda r: r.update(Operator={
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": {"Statement": []},
                       "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}}),
    "a managed policy of the template": lambda r: r.update(Writers={
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {"PolicyDocument": {"Statement": allow(["dynamodb:PutItem", "dynamodb:DeleteItem"],
                                                              [AUDIT_ARN, AUDIT_INDEXES])}}}),
    "the audit table's own resource policy": lambda r: r["AuditTable"]["Properties"].update(ResourcePolicy={
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                          "Action": "dynamodb:DeleteItem", "Resource": "*"}]}}),
    "a function's explicit Deny removed": lambda r: statements(r, "HookVerifyFunction").remove(
        next(s for s in statements(r, "HookVerifyFunction") if s.get("Sid") == "AuditLinesAreNeverChanged")),
    "a Deny that leaves BatchWriteItem out": lambda r: next(
        s for s in statements(r, "DeprovisionFunction") if s.get("Sid") == "AuditLinesAreNeverChanged"
    )["Action"].remove("dynamodb:BatchWriteItem"),
    "a role from outside the template": lambda r: r["SyncFunction"]["Properties"].update(
        Role="arn:aws:iam::123456789012:role/elsewhere"),
}


@pytest.mark.parametrize("name", sorted(VIOLATIONS))
def test_a_planted_grant_is_caught(name):
    found = check(planted(VIOLATIONS[name]))
    assert found, f"{name}: not caught"


def test_what_the_state_table_needs_is_not_a_finding():
    # Updates and deletes on the state table, its indexes, other resources by reference,
    # and a transaction on both tables stay allowed.
    def change(r):
        statements(r, "DeprovisionFunction").extend([
            allow(["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
                  [{"GetAtt": "Table.Arn"}, {"Sub": "${Table.Arn}/index/*"}]),
            allow("dynamodb:TransactWriteItems", [{"GetAtt": "Table.Arn"}, AUDIT_ARN]),
            allow("dynamodb:ConditionCheckItem", AUDIT_ARN),
            allow("sqs:*", {"GetAtt": "DeprovisionDeadLetterQueue.Arn"}),
        ])
    assert check(planted(change)) == []


def test_each_finding_names_where_and_what():
    found = check(planted(VIOLATIONS["UpdateItem on the audit table"]))
    assert [str(f) for f in found] == [
        "DeprovisionFunction.Properties.Policies[0] (Planted): allows dynamodb:UpdateItem on the audit table "
        "(its Resource reaches it)"]
    found = check(planted(VIOLATIONS["a Deny that leaves BatchWriteItem out"]))
    assert [str(f) for f in found] == [
        "DeprovisionFunction: its role does not deny dynamodb:BatchWriteItem on the audit table"]
    assert "dynamodb:BatchWriteItem" in ITEM_CHANGES
