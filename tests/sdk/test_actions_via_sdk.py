"""What the provisioning actions API creates, read back with the official Okta Python SDK.

Unlike test_okta_sdk.py, this module needs the running local stack (`make up`): it signs
`POST /actions` with SigV4 (botocore, service execute-api, the stack's credentials from
.local/stack.env), lets the stack's actions function create a user, a group and the
membership in the stack's Okta simulator, then reads all three with the `okta` SDK
(SSWS token) against that simulator. Without the stack every test here is skipped,
saying why.

Run:  make up; .venv/bin/python -m pytest -q tests/sdk/test_actions_via_sdk.py
"""

import asyncio
import json
import os
import shlex
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK_ENV = REPO / ".local" / "stack.env"
# See test_okta_sdk.py: okta 3.4.6 takes the HTTPS-check switch only from okta.yaml or here.
HTTPS_CHECK_ENV = "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"


def _stack_env() -> dict[str, str]:
    if not STACK_ENV.is_file():
        pytest.skip(f"{STACK_ENV.relative_to(REPO)} not found: these tests need the local stack "
                    "(`make up`); `make test` runs tests/sdk before it starts", allow_module_level=True)
    return {k: shlex.split(v)[0] if v else "" for k, v in
            (line.split("=", 1) for line in STACK_ENV.read_text().splitlines() if "=" in line)}


ENV = _stack_env()


def _answering(url: str) -> str | None:
    """None if something answers HTTP at `url` (any status), else why not."""
    try:
        urllib.request.urlopen(url, timeout=3).close()
    except urllib.error.HTTPError:
        pass
    except (OSError, ValueError) as e:
        return f"{url}: {e}"
    return None


@pytest.fixture(scope="module")
def stack():
    for url in (f"{ENV['API_URL']}/okta", f"{ENV['OKTA_URL']}/api/v1/org"):
        why = _answering(url)
        if why:
            pytest.skip(f"the local stack is not answering ({why}); start it with `make up`")
    return ENV


@pytest.fixture(autouse=True)
def sdk_environment(monkeypatch):
    # The SDK also reads OKTA_CLIENT_* from the environment; keep the tests hermetic.
    for name in list(os.environ):
        if name.startswith("OKTA_CLIENT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(HTTPS_CHECK_ENV, "true")


def signed_post(env: dict, path: str, body: dict) -> tuple[int, dict]:
    """POSTs `body` to the stack's API, SigV4-signed for execute-api as an IAM caller signs."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{env['API_URL']}{path}"
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]), "execute-api",
              env["AWS_REGION"]).add_auth(req)
    request = urllib.request.Request(url, method="POST", data=data, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(request, timeout=35) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ssws_config(env: dict) -> dict:
    # The bare token: the SDK itself prefixes it with "SSWS " in the Authorization header.
    return {"orgUrl": env["OKTA_URL"], "authorizationMode": "SSWS", "token": env["OKTA_API_TOKEN"]}


def run_with_client(config, scenario):
    from okta.client import Client

    async def main():
        async with Client(config) as client:
            return await scenario(client)

    return asyncio.run(main())


def ok(call_result):
    """The SDK returns (result, response, error); insists on no error and returns the result."""
    result, response, error = call_result
    assert error is None, f"SDK call failed: {error!r}"
    assert response is not None
    return result


def test_the_sdk_reads_the_user_group_and_membership_the_actions_api_created(stack):
    run = uuid.uuid4().hex[:12]
    login = f"sdk.reader.{run}@example.com"
    group = f"SDK Readers {run}"
    request = {
        "idempotency_key": f"sdk-{run}", "dry_run": False, "actions": [
            {"type": "SYNC_IDENTITIES", "login": login, "email": login, "first_name": "Sdk",
             "last_name": "Reader", "department": "Research", "title": "Analyst"},
            {"type": "CREATE_ENTITLEMENT", "name": group, "description": "made by POST /actions"},
            {"type": "MANAGE_RELATIONSHIPS", "user": login, "add": [group]},
        ]}
    status, answer = signed_post(stack, "/actions", request)
    # The tests before this one may have spent the stack Okta's rate budget for this minute:
    # the actions then wait (202, pending), and a caller repeats its key until they are done.
    deadline = time.monotonic() + 90
    while status == 202 and time.monotonic() < deadline:
        time.sleep(2)
        status, answer = signed_post(stack, "/actions", request)
    assert status == 200, answer
    assert answer["status"] == "done", answer
    results = answer["results"]
    assert [r["outcome"] for r in results] == ["created", "created", "added"], results
    user_id, group_id = results[0]["user_id"], results[1]["group_id"]
    assert results[2]["user_id"] == user_id

    async def scenario(client):
        user = ok(await client.get_user(login))
        made = ok(await client.get_group(group_id))
        members = ok(await client.list_group_users(group_id))
        groups = ok(await client.list_user_groups(user_id))
        return user, made, members, groups

    user, made, members, groups = run_with_client(ssws_config(stack), scenario)
    assert user.id == user_id
    assert user.profile.login == login
    assert user.profile.email == login
    assert (user.profile.first_name, user.profile.last_name) == ("Sdk", "Reader")
    assert (user.profile.department, user.profile.title) == ("Research", "Analyst")
    # Activated without a password or an e-mail: PROVISIONED until the user sets one.
    assert user.status.value == "PROVISIONED"

    # GroupProfile is an anyOf wrapper in okta 3.x; the parsed profile is `actual_instance`.
    assert made.id == group_id
    assert made.type.value == "OKTA_GROUP"
    assert made.profile.actual_instance.name == group
    assert made.profile.actual_instance.description == "made by POST /actions"
    assert [m.id for m in members] == [user_id]
    assert sorted(g.profile.actual_instance.name for g in groups) == sorted(["Everyone", group])
