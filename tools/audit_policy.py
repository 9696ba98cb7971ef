#!/usr/bin/env python3
"""Checks that nothing in a SAM template lets a line of the audit trail be changed or
removed: no policy anywhere in it grants, on the audit table, an action that updates,
deletes or overwrites in bulk (`UpdateItem`, `DeleteItem`, `BatchWriteItem`, PartiQL
writes, the table-level actions that destroy or age out items, or any wildcard that
covers one of them), and every function's role allows on it only `PutItem` and reads,
and denies the item-changing actions explicitly.

    audit_policy.py [infra/template.yaml]    prints each finding; exit 1 if there is one

How IAM decides, and so what is looked at:
- `TransactWriteItems` is not an action IAM checks: each item of a transaction is
  authorized as the `PutItem`, `UpdateItem`, `DeleteItem` or `ConditionCheckItem` it is.
  A role is judged by those; `dynamodb:TransactWriteItems` in a policy grants nothing
  (and is accepted), and a transaction can do on the audit table only what `PutItem`
  allows. `ConditionCheckItem` only reads.
- `PutItem` is the one write a function keeps. IAM cannot require its condition
  expression, so a role that may put could put over a line; the code always sends
  `attribute_not_exists(pk)`, and point-in-time recovery keeps the earlier version. This
  check cannot see that; the adapter tests do (tests/e2e/tests/store.rs).
- Every policy document in the template counts (function policies, roles, policies,
  managed policies, resource policies): any mapping with a `Statement`. A statement's
  conditions are ignored (a condition narrows a grant; it is not relied on here), so is
  its principal. An `Allow` with `NotAction` or `NotResource` is taken to reach whatever
  it does not exclude.
- A resource reaches the audit table when it is `*`, names the audit table (`!GetAtt`,
  `!Ref`, `!Sub` with `${AuditTable…}`), or is a DynamoDB ARN with a wildcard or a
  parameter in its table part; a reference to another resource of the template does not.
  Intrinsics this cannot resolve (`!Join`, `!If`, imports) are taken to reach it.
- SAM policy templates that write (`DynamoDBCrudPolicy`, `DynamoDBWritePolicy`, …) reach it
  unless their table is another table of the template; AWS managed policies are unknown
  text here, so only a short list of known harmless ones passes.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from template import Template  # noqa: E402

# Actions that change or remove an existing audit line, or every line at once.
ITEM_CHANGES = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:PartiQLInsert",
)
TABLE_CHANGES = (
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
)
FORBIDDEN = ITEM_CHANGES + TABLE_CHANGES

# What a function's role may be allowed on the audit table, spelt out (no wildcards).
# `TransactWriteItems` is no IAM action (each item is checked as its own put, update,
# delete or condition check), so naming it grants nothing.
FUNCTION_MAY = {a.lower() for a in (
    "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
    "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:TransactWriteItems",
)}

# SAM policy templates that only read a table.
SAM_READ_ONLY = {"DynamoDBReadPolicy", "DynamoDBStreamReadPolicy"}
# AWS managed policies known to grant no DynamoDB write.
HARMLESS_MANAGED = {"AWSLambdaBasicExecutionRole", "AWSLambdaDynamoDBExecutionRole",
                    "AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess",
                    "AWSXrayWriteOnlyAccess", "AmazonDynamoDBReadOnlyAccess"}


@dataclass(frozen=True)
class Finding:
    """One way the audit trail could be rewritten, and where it is in the template."""
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


class Checker:
    def __init__(self, template: Template, audit: str = Template.AUDIT_TABLE):
        self.template = template
        self.audit = audit
        self.resources = template.resources
        params = template.doc.get("Parameters", {})
        self.params = set(params)
        tables = template.of_type("AWS::DynamoDB::Table")
        if audit not in tables:
            raise SystemExit(f"the template has no audit table {audit!r}")
        self.audit_name = tables[audit].get("Properties", {}).get("TableName")

    # -- resources ------------------------------------------------------------------

    def reaches(self, resource) -> bool:
        """Whether a statement's resource entry could be the audit table or its index."""
        if isinstance(resource, list):
            return any(self.reaches(r) for r in resource)
        if isinstance(resource, str):
            return self._arn_reaches(resource)
        if isinstance(resource, dict) and len(resource) == 1:
            (fn, arg), = resource.items()
            if fn == "GetAtt":
                target = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                return target == self.audit
            if fn == "Ref":
                return arg == self.audit or arg in self.params
            if fn == "Sub":
                text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
                return self._sub_reaches(text, variables)
        return True  # an intrinsic this check cannot resolve

    def _sub_reaches(self, text: str, variables: dict) -> bool:
        refs = re.findall(r"\$\{([^}!]+)\}", text)
        for ref in refs:
            name = ref.split(".", 1)[0]
            if name == self.audit:
                return True
            if name in variables and self.reaches(variables[name]):
                return True
        # Starts with another resource's ARN or name: that resource, not the audit table.
        head = re.match(r"\$\{([A-Za-z0-9]+)(\.[A-Za-z]+)?\}", text)
        if head and head.group(1) in self.resources and head.group(1) != self.audit:
            return False

        def fill(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("AWS::"):
                return {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}.get(name, "x")
            if name.split(".", 1)[0] in self.resources:
                return "resource"
            return "*"  # a parameter or variable: could be anything
        return self._arn_reaches(re.sub(r"\$\{([^}!]+)\}", fill, text))

    def _arn_reaches(self, arn: str) -> bool:
        if arn == "*":
            return True
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn":
            return True  # not an ARN: cannot tell
        service, rest = parts[2], parts[5]
        if not fnmatch.fnmatchcase("dynamodb", service):
            return False
        kind, _, name = rest.partition("/")
        if not fnmatch.fnmatchcase("table", kind):
            return False
        name = name.split("/", 1)[0]
        if any(c in name for c in "*?"):
            return True
        return self.audit_name is not None and name == self.audit_name

    # -- actions --------------------------------------------------------------------

    @staticmethod
    def covered(action: str, patterns) -> bool:
        """Whether one of the IAM action patterns (case-insensitive, `*` and `?`) covers
        `action`."""
        return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in _list(patterns))

    def granted(self, statement: dict) -> list[str]:
        """The forbidden actions an Allow statement grants (all it does not exclude, for
        `NotAction`)."""
        if "NotAction" in statement:
            return [a for a in FORBIDDEN if not self.covered(a, statement["NotAction"])]
        return [a for a in FORBIDDEN if self.covered(a, statement.get("Action", []))]

    # -- documents ------------------------------------------------------------------

    def statement_findings(self, where: str, statement: dict, function: bool) -> list[Finding]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            return []
        sid = f"{where} ({statement['Sid']})" if "Sid" in statement else where
        if "NotResource" in statement:
            reaches = True
            resource_text = "NotResource"
        else:
            reaches = self.reaches(statement.get("Resource", "*"))
            resource_text = "its Resource"
        if not reaches:
            return []
        out = [Finding(sid, f"allows {a} on the audit table ({resource_text} reaches it)")
               for a in self.granted(statement)]
        if function and not out:
            if "NotAction" in statement:
                out.append(Finding(sid, "allows everything but NotAction on the audit table"))
            else:
                for action in _list(statement.get("Action", [])):
                    if str(action).lower() not in FUNCTION_MAY:
                        out.append(Finding(sid, f"allows {action} on the audit table; a function "
                                                f"may only PutItem and read there"))
        return out

    def documents(self, node, where: str):
        """Every policy document under `node`: a mapping with a `Statement`."""
        if isinstance(node, dict):
            if "Statement" in node and isinstance(node["Statement"], (list, dict)):
                yield where, node
            for k, v in node.items():
                yield from self.documents(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from self.documents(v, f"{where}[{i}]")

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        functions = self.template.functions()
        for logical_id, res in self.resources.items():
            in_function = logical_id in functions
            for where, doc in self.documents(res, logical_id):
                for statement in _list(doc["Statement"]):
                    out.extend(self.statement_findings(where, statement, in_function))
            props = res.get("Properties", {})
            if in_function:
                out.extend(self._function_policies(logical_id, props))
            if res.get("Type") == "AWS::IAM::Role":
                for i, arn in enumerate(props.get("ManagedPolicyArns", [])):
                    out.extend(self._managed(f"{logical_id}.ManagedPolicyArns[{i}]", arn))
        globals_ = self.template.doc.get("Globals", {}).get("Function", {})
        for where, doc in self.documents(globals_, "Globals.Function"):
            for statement in _list(doc["Statement"]):
                out.extend(self.statement_findings(where, statement, True))
        return out

    def _function_policies(self, logical_id: str, props: dict) -> list[Finding]:
        out = []
        if "Role" in props:
            role = props["Role"]
            ref = role.get("GetAtt", role.get("Ref")) if isinstance(role, dict) else None
            target = (ref[0] if isinstance(ref, list) else str(ref).split(".", 1)[0]) if ref else None
            if target not in self.resources:
                out.append(Finding(f"{logical_id}.Role", "a role from outside the template cannot be checked"))
        for i, policy in enumerate(_list(props.get("Policies", []))):
            where = f"{logical_id}.Policies[{i}]"
            if isinstance(policy, str):
                out.extend(self._managed(where, policy))
            elif isinstance(policy, dict) and "Statement" not in policy:
                for name, params in policy.items():
                    if name in ("Ref", "GetAtt", "Sub"):
                        continue  # a managed policy of the template: checked as a resource
                    out.extend(self._sam_template(f"{where}.{name}", name, params))
        return out

    def _sam_template(self, where: str, name: str, params) -> list[Finding]:
        if name in SAM_READ_ONLY or not name.startswith("DynamoDB"):
            return []
        values = list(params.values()) if isinstance(params, dict) else [params]
        for value in values:
            ref = value.get("Ref") if isinstance(value, dict) else None
            if ref is None or ref == self.audit or ref not in self.resources:
                return [Finding(where, f"the SAM policy template {name} writes to a table that "
                                       f"is, or may be, the audit table")]
        return []

    def _managed(self, where: str, policy) -> list[Finding]:
        if isinstance(policy, dict):
            return []  # a !Ref to a managed policy of the template: checked as a resource
        name = str(policy).rsplit("/", 1)[-1]
        if name in HARMLESS_MANAGED:
            return []
        return [Finding(where, f"the managed policy {name} is not known to grant no DynamoDB "
                               f"write: it may reach the audit table")]

    # -- what every function must have ------------------------------------------------

    def missing_denies(self) -> list[Finding]:
        """Functions whose role does not explicitly deny every item change on the audit
        table and its indexes."""
        out = []
        for logical_id, res in self.template.functions().items():
            denied: set[str] = set()
            index = False
            for _, doc in self.documents(res.get("Properties", {}).get("Policies", []), logical_id):
                for s in _list(doc["Statement"]):
                    if not isinstance(s, dict) or s.get("Effect") != "Deny" or "NotResource" in s:
                        continue
                    resources = _list(s.get("Resource", []))
                    if not any(self._names_audit(r) for r in resources):
                        continue
                    index = index or any(self._names_audit_index(r) for r in resources)
                    denied |= {a for a in ITEM_CHANGES if self.covered(a, s.get("Action", []))}
            missing = [a for a in ITEM_CHANGES if a not in denied]
            if missing:
                out.append(Finding(logical_id, f"its role does not deny {', '.join(missing)} on the audit table"))
            elif not index:
                out.append(Finding(logical_id, "its role's Deny does not cover the audit table's indexes"))
        return out

    def _names_audit(self, r) -> bool:
        return r == "*" or (isinstance(r, dict) and self.reaches(r))

    def _names_audit_index(self, r) -> bool:
        if r == "*":
            return True
        if isinstance(r, dict) and "Sub" in r:
            text = r["Sub"][0] if isinstance(r["Sub"], list) else r["Sub"]
            return text.startswith(f"${{{self.audit}.Arn}}/")
        return False


def check(template: Template) -> list[Finding]:
    """Every finding: grants that could rewrite the trail, and missing explicit denies."""
    checker = Checker(template)
    return checker.findings() + checker.missing_denies()


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "infra" / "template.yaml"
    found = check(Template(path))
    for f in found:
        print(f)
    if found:
        print(f"{len(found)} way(s) to rewrite the audit trail in {path}", file=sys.stderr)
        return 1
    print(f"{path}: no role or policy can change or remove an audit line")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
