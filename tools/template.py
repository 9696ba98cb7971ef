"""Reads infra/template.yaml, the one source of truth for the tables, the secret, the
routes, the functions' environment and the stream's event source mapping, so the local
stack and AWS agree."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

import yaml


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags (!Ref, !GetAtt, !Sub...)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _tag)


class Template:
    def __init__(self, path: Path):
        self.doc = yaml.load(path.read_text(), Loader=_CfnLoader)
        self.resources = self.doc["Resources"]

    def of_type(self, kind: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    # The state table and the audit table, by logical id.
    STATE_TABLE = "Table"
    AUDIT_TABLE = "AuditTable"

    def table(self, logical_id: str = STATE_TABLE) -> tuple[str, dict]:
        """A DynamoDB table of the template: the state table unless another is named."""
        tables = self.of_type("AWS::DynamoDB::Table")
        if logical_id not in tables:
            raise SystemExit(f"the template has no DynamoDB table {logical_id!r} (it has {sorted(tables)})")
        return logical_id, tables[logical_id]["Properties"]

    def audit_table(self) -> tuple[str, dict]:
        """The audit trail's table."""
        return self.table(self.AUDIT_TABLE)

    def secret(self) -> tuple[str, dict]:
        """The hook secret: the one whose value the template generates."""
        (name, res), = [(k, v) for k, v in self.of_type("AWS::SecretsManager::Secret").items()
                        if "GenerateSecretString" in v["Properties"]]
        return name, res["Properties"]

    def create_table_args(self, table_name: str, logical_id: str = STATE_TABLE) -> dict:
        _, props = self.table(logical_id)
        args = {
            "TableName": table_name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if "GlobalSecondaryIndexes" in props:
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if "StreamSpecification" in props:
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        return args

    def ttl_attribute(self, logical_id: str = STATE_TABLE) -> str | None:
        spec = self.table(logical_id)[1].get("TimeToLiveSpecification")
        return spec["AttributeName"] if spec and spec.get("Enabled") else None

    def generate_secret_string(self) -> str:
        """Mirrors GenerateSecretString for the options the template uses."""
        gen = self.secret()[1]["GenerateSecretString"]
        alphabet = string.ascii_letters + string.digits
        if not gen.get("ExcludePunctuation"):
            alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
        value = "".join(secrets.choice(alphabet) for _ in range(int(gen.get("PasswordLength", 32))))
        if "GenerateStringKey" in gen:
            doc = json.loads(gen.get("SecretStringTemplate", "{}"))
            doc[gen["GenerateStringKey"]] = value
            return json.dumps(doc)
        return value

    def hash_key(self) -> str:
        """The table's partition key attribute."""
        (name,) = [k["AttributeName"] for k in self.table()[1]["KeySchema"] if k["KeyType"] == "HASH"]
        return name

    def functions(self) -> dict[str, dict]:
        return self.of_type("AWS::Serverless::Function")

    def binary(self, logical_id: str) -> str:
        return self.resources[logical_id]["Metadata"]["BuildProperties"]["Binary"]

    def routes(self) -> list[dict]:
        """HTTP API routes: method, path (with any `{param}` / `{proxy+}`), function binary,
        and `auth`, the authorizer API Gateway enforces on the route: "AWS_IAM" or None.

        As SAM resolves it: the event's `Auth.Authorizer`, else the API's
        `Auth.DefaultAuthorizer` (the HttpApi resource's, over Globals.HttpApi's); "NONE"
        turns a default off. AWS_IAM needs `EnableIamAuthorizer: true` on the API, as SAM
        insists. Authorizers the local gateway cannot enforce (JWT, Lambda) stop the stack
        rather than leave their routes open."""
        out = []
        for logical_id, res in self.functions().items():
            for name, event in res["Properties"].get("Events", {}).items():
                if event["Type"] == "HttpApi":
                    p = event["Properties"]
                    out.append({"method": p["Method"].upper(), "path": p["Path"],
                                "function": self.binary(logical_id),
                                "auth": self._route_auth(f"{logical_id}.{name}", p)})
        return out

    def http_api_auth(self, api_id) -> dict:
        """The Auth of the HttpApi an event names (`ApiId: !Ref X`; none: SAM's implicit
        API), Globals.HttpApi.Auth merged under it as SAM merges globals."""
        auth = dict(self.doc.get("Globals", {}).get("HttpApi", {}).get("Auth", {}))
        if api_id is not None:
            logical = api_id.get("Ref") if isinstance(api_id, dict) else None
            if logical not in self.resources:
                raise SystemExit(f"HttpApi event ApiId {api_id!r} is not a !Ref to a resource of the template")
            auth.update(self.resources[logical].get("Properties", {}).get("Auth", {}))
        return auth

    def _route_auth(self, where: str, props: dict) -> str | None:
        api_auth = self.http_api_auth(props.get("ApiId"))
        authorizer = props.get("Auth", {}).get("Authorizer") or api_auth.get("DefaultAuthorizer")
        if authorizer in (None, "NONE"):
            return None
        if authorizer == "AWS_IAM" and api_auth.get("EnableIamAuthorizer") is True:
            return "AWS_IAM"
        if authorizer == "AWS_IAM":
            raise SystemExit(f"{where}: Authorizer AWS_IAM needs Auth: {{EnableIamAuthorizer: true}} "
                             "on the HttpApi (or Globals.HttpApi), or SAM rejects the template")
        raise SystemExit(f"{where}: authorizer {authorizer!r} cannot be enforced by the local gateway "
                         "(only AWS_IAM is)")

    def function_environment(self, refs: dict[str, str],
                             binaries: set[str] | None = None) -> dict[str, str]:
        """Globals and per-function variables (of the functions whose binary is in
        `binaries`, or all), with !Ref resolved through `refs` (logical ids and
        parameters). Functions must not disagree on a variable."""
        params = {k: str(v.get("Default", "")) for k, v in self.doc.get("Parameters", {}).items()}

        def resolve(v):
            if isinstance(v, dict) and "Ref" in v:
                return refs.get(v["Ref"], params.get(v["Ref"]))
            return str(v)

        env = {}
        globals_ = self.doc.get("Globals", {}).get("Function", {})
        for k, v in globals_.get("Environment", {}).get("Variables", {}).items():
            env[k] = resolve(v)
        for logical_id, res in self.functions().items():
            if binaries is not None and self.binary(logical_id) not in binaries:
                continue
            for k, v in res["Properties"].get("Environment", {}).get("Variables", {}).items():
                value = resolve(v)
                if k in env and env[k] != value:
                    raise SystemExit(f"{logical_id}: {k} differs between functions; "
                                     "the local stack runs all functions with one environment")
                env[k] = value
        missing = [k for k, v in env.items() if v is None]
        if missing:
            raise SystemExit(f"cannot resolve template variables locally: {missing}")
        return env

    def stream_mapping(self) -> dict:
        """The settings of the one DynamoDB event source mapping: which function reads the
        table's stream and how Lambda batches, filters and retries for it. Unset settings
        get Lambda's defaults for a DynamoDB stream (batch 100, no window, 1 lane, retry
        and keep records forever, no bisection, whole-batch results)."""
        found = [(logical_id, event["Properties"])
                 for logical_id, res in self.functions().items()
                 for event in res["Properties"].get("Events", {}).values()
                 if event["Type"] == "DynamoDB"]
        if len(found) != 1:
            raise SystemExit(f"expected one function with a DynamoDB event, found {len(found)}")
        logical_id, p = found[0]
        timeout = self.resources[logical_id]["Properties"].get(
            "Timeout", self.doc.get("Globals", {}).get("Function", {}).get("Timeout", 3))
        on_failure = p.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return {
            "function": self.binary(logical_id),
            "function_logical_id": logical_id,
            "timeout": int(timeout),
            "starting_position": p.get("StartingPosition", "TRIM_HORIZON"),
            "batch_size": int(p.get("BatchSize", 100)),
            "batching_window": float(p.get("MaximumBatchingWindowInSeconds", 0)),
            "parallelization": int(p.get("ParallelizationFactor", 1)),
            "max_retries": int(p.get("MaximumRetryAttempts", -1)),
            "max_record_age": int(p.get("MaximumRecordAgeInSeconds", -1)),
            "bisect": bool(p.get("BisectBatchOnFunctionError", False)),
            "report_item_failures": "ReportBatchItemFailures" in p.get("FunctionResponseTypes", []),
            "filters": [json.loads(f["Pattern"]) for f in p.get("FilterCriteria", {}).get("Filters", [])],
            "on_failure": _logical_id(on_failure) if on_failure else None,
        }

    def s3_drop_rule(self) -> dict:
        """The one function started by S3 objects through EventBridge: its rule's pattern
        (with the bucket's name left to the caller: it is a !Ref), the bucket's logical
        id, and Lambda's asynchronous-invocation settings (retries, failure queue)."""
        found = [(logical_id, event["Properties"])
                 for logical_id, res in self.functions().items()
                 for event in res["Properties"].get("Events", {}).values()
                 if event["Type"] == "EventBridgeRule"
                 and "aws.s3" in event["Properties"].get("Pattern", {}).get("source", [])]
        if len(found) != 1:
            raise SystemExit(f"expected one function with an S3 EventBridge rule, found {len(found)}")
        logical_id, p = found[0]
        pattern = p["Pattern"]
        props = self.resources[logical_id]["Properties"]
        invoke = props.get("EventInvokeConfig", {})
        on_failure = invoke.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        timeout = props.get("Timeout", self.doc.get("Globals", {}).get("Function", {}).get("Timeout", 3))
        bucket = pattern["detail"]["bucket"]["name"][0]
        return {
            "function": self.binary(logical_id),
            "function_logical_id": logical_id,
            "bucket_logical_id": _logical_id(bucket),
            "pattern": pattern,
            "timeout": int(timeout),
            "max_retries": int(invoke.get("MaximumRetryAttempts", 2)),
            "max_event_age": int(invoke.get("MaximumEventAgeInSeconds", 21600)),
            "reserved_concurrency": props.get("ReservedConcurrentExecutions"),
            "on_failure": _logical_id(on_failure) if on_failure else None,
        }

    def queue_attributes(self, logical_id: str) -> dict[str, str]:
        """An SQS queue's properties as CreateQueue attributes."""
        props = self.resources[logical_id].get("Properties", {})
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in props.items()
                if k in ("MessageRetentionPeriod", "VisibilityTimeout", "SqsManagedSseEnabled",
                         "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize")}


def _logical_id(ref) -> str:
    """The resource a !GetAtt (either form) or !Ref points at."""
    if isinstance(ref, dict) and "GetAtt" in ref:
        target = ref["GetAtt"]
        return target[0] if isinstance(target, list) else target.split(".", 1)[0]
    if isinstance(ref, dict) and "Ref" in ref:
        return ref["Ref"]
    raise SystemExit(f"cannot resolve {ref!r} to a resource of the template")
