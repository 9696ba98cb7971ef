"""template.py's routes(): the HTTP API routes of a SAM template with the authorizer each
one gets, resolved as SAM resolves it, and checked against SAM's own translator (from the
venv's aws-sam-cli)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from template import Template

ROOT = Path(__file__).resolve().parents[2]

IAM_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        EnableIamAuthorizer: true
  ActionsFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: actions
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: s3://bucket/key
      Events:
        Submit:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /actions
            Method: POST
            Auth:
              Authorizer: AWS_IAM
        Status:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /actions/{request_id}
            Method: get
            Auth:
              Authorizer: AWS_IAM
        Verify:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: /okta
            Method: GET
"""


def load(tmp_path: Path, text: str) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return Template(path)


def test_project_template_routes_keep_their_shape():
    routes = Template(ROOT / "infra" / "template.yaml").routes()
    assert routes, "the template has HTTP API routes"
    for r in routes:
        assert set(r) == {"method", "path", "function", "auth"}
        assert r["auth"] in (None, "AWS_IAM")
    assert {"method": "POST", "path": "/okta", "function": "hook-intake", "auth": None} in routes


def test_event_authorizer_aws_iam(tmp_path):
    assert load(tmp_path, IAM_TEMPLATE).routes() == [
        {"method": "POST", "path": "/actions", "function": "actions", "auth": "AWS_IAM"},
        {"method": "GET", "path": "/actions/{request_id}", "function": "actions", "auth": "AWS_IAM"},
        {"method": "GET", "path": "/okta", "function": "actions", "auth": None},
    ]


def test_default_authorizer_from_globals_and_none_override(tmp_path):
    doc = yaml.safe_load(IAM_TEMPLATE.replace("!Ref HttpApi", "{Ref: HttpApi}"))
    doc["Globals"] = {"HttpApi": {"Auth": {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}}}
    doc["Resources"]["HttpApi"]["Properties"] = {}
    events = doc["Resources"]["ActionsFunction"]["Properties"]["Events"]
    del events["Submit"]["Properties"]["Auth"]
    events["Verify"]["Properties"]["Auth"] = {"Authorizer": "NONE"}
    routes = load(tmp_path, json.dumps(doc)).routes()
    assert [(r["path"], r["auth"]) for r in routes] == [
        ("/actions", "AWS_IAM"), ("/actions/{request_id}", "AWS_IAM"), ("/okta", None)]


def test_aws_iam_without_enable_iam_authorizer_is_refused_like_sam(tmp_path):
    text = IAM_TEMPLATE.replace("EnableIamAuthorizer: true", "EnableIamAuthorizer: false")
    with pytest.raises(SystemExit, match="EnableIamAuthorizer"):
        load(tmp_path, text).routes()


def test_authorizers_the_gateway_cannot_enforce_are_refused(tmp_path):
    text = IAM_TEMPLATE.replace("Authorizer: AWS_IAM", "Authorizer: MyJwt", 1)
    with pytest.raises(SystemExit, match="MyJwt"):
        load(tmp_path, text).routes()


def test_routes_agree_with_sam_translator(tmp_path, monkeypatch):
    samtranslator = pytest.importorskip("samtranslator.translator.transform")
    from samtranslator.yaml_helper import yaml_parse

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    class NoManagedPolicies:
        def load(self):
            return {}

    out = samtranslator.transform(yaml_parse(IAM_TEMPLATE), {}, NoManagedPolicies())
    body = out["Resources"]["HttpApi"]["Properties"]["Body"]
    sam = {(m.upper(), p): ("AWS_IAM" if {"AWS_IAM": []} in (op.get("security") or []) else None)
           for p, ops in body["paths"].items() for m, op in ops.items()}
    ours = {(r["method"], r["path"]): r["auth"] for r in load(tmp_path, IAM_TEMPLATE).routes()}
    assert ours == sam
    scheme = body["components"]["securitySchemes"]["AWS_IAM"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"
