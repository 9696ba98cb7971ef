"""The official Okta SDK for Python (`okta`, pinned in tools/requirements.txt) against okta-sim.

Each test drives the real SDK (async, aiohttp) against a simulator process that this module
starts itself, and checks the answers against the demo org (tests/okta-sim/demo-org.json).
Every test starts from the seed (`POST /_sim/reset`), so the order of the tests does not matter.

Run:  .venv/bin/python -m pytest -q tests/sdk      (needs `cargo build -p okta-sim` first)
"""

import asyncio
import json
import os
import selectors
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIM_BIN = REPO / "target" / "debug" / "okta-sim"
SEED_FILE = REPO / "tests" / "okta-sim" / "demo-org.json"
KEY_FILE = REPO / "tests" / "okta-sim" / "demo-service-app.key.pem"
DEMO = json.loads(SEED_FILE.read_text())
SSWS_TOKEN = DEMO["apiTokens"][0]["token"]
TOKEN_OWNER = DEMO["apiTokens"][0]["owner"]
CLIENT_ID = DEMO["oauthClients"][0]["clientId"]
STARTUP_TIMEOUT_S = 20

# The SDK refuses http:// org URLs unless `testing.testingDisableHttpsCheck` is set. In okta
# 3.4.6 that key cannot be passed in the Client's config dict (the dict is nested under
# "client", the check reads the top-level "testing" section); it can only come from
# okta.yaml or this environment variable (okta/config/config_setter.py, config_validator.py).
HTTPS_CHECK_ENV = "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"


@pytest.fixture(scope="session")
def okta_sim():
    """Starts our own okta-sim on a free loopback port; yields its base URL; kills it by pid."""
    if not SIM_BIN.is_file():
        pytest.fail(
            f"okta-sim binary not found at {SIM_BIN}: run `cargo build -p okta-sim` "
            "from the workspace root first",
            pytrace=False,
        )
    stderr_log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [
            str(SIM_BIN),
            "--listen", "127.0.0.1:0",
            "--seed-file", str(SEED_FILE.relative_to(REPO)),
            "--seed", "7",
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_log,
        text=True,
    )
    drain = None
    try:
        first_line = _read_first_line(proc, stderr_log)
        prefix = "listening on "
        assert first_line.startswith(prefix), f"unexpected first stdout line: {first_line!r}"
        address = first_line[len(prefix):].strip()
        assert address.startswith("127.0.0.1:"), address
        # Keep draining stdout so the simulator can never block on a full pipe.
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        with pytest.MonkeyPatch.context() as env:
            # The SDK also reads OKTA_CLIENT_* from the environment; keep the tests hermetic.
            for name in list(os.environ):
                if name.startswith("OKTA_CLIENT_"):
                    env.delenv(name)
            env.setenv(HTTPS_CHECK_ENV, "true")
            yield f"http://{address}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 9)
        proc.wait(timeout=10)
        if drain is not None:
            drain.join(timeout=5)
        proc.stdout.close()
        stderr_log.close()


def _read_first_line(proc, stderr_log):
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = proc.stdout.readline()
                if line:
                    return line
            if proc.poll() is not None:
                break
    finally:
        selector.close()
    stderr_log.seek(0)
    detail = stderr_log.read().decode(errors="replace")[-2000:]
    pytest.fail(
        f"okta-sim did not print `listening on …` (exit code {proc.poll()}); stderr:\n{detail}",
        pytrace=False,
    )


@pytest.fixture(autouse=True)
def fresh_org(okta_sim):
    """Every test starts from the demo seed: log, counters and statuses reset."""
    _sim_call(okta_sim, "POST", "/_sim/reset")
    return okta_sim


def _sim_call(base, method, path):
    req = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200, resp.status
        body = resp.read()
        return json.loads(body) if body else None


def ssws_config(base):
    return {"orgUrl": base, "authorizationMode": "SSWS", "token": SSWS_TOKEN}


def private_key_config(base):
    return {
        "orgUrl": base,
        "authorizationMode": "PrivateKey",
        "clientId": CLIENT_ID,
        "scopes": ["okta.users.read"],
        "privateKey": KEY_FILE.read_text(),
    }


def run_with_client(config, scenario):
    """Runs `scenario(client)` inside `async with okta.client.Client(config)`."""
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


def demo_user(login):
    return next(u for u in DEMO["users"] if u["profile"]["login"] == login)


def demo_groups_of(user_id):
    """(id, name, type) of Everyone plus every seeded group that lists the user as a member."""
    groups = set()
    for g in DEMO["groups"]:
        if g["type"] == "BUILT_IN" or user_id in g.get("members", []):
            groups.add((g["id"], g["profile"]["name"], g["type"]))
    return groups


ALL_DEMO_LOGINS = {u["profile"]["login"] for u in DEMO["users"]}
ADA = demo_user("ada.lovelace@example.com")


def test_the_sdk_lists_every_demo_user_as_active(okta_sim):
    users = run_with_client(ssws_config(okta_sim), lambda c: _list_users(c))
    assert {u.profile.login for u in users} == ALL_DEMO_LOGINS
    assert len(users) == len(DEMO["users"]) == 14
    by_login = {u.profile.login: u for u in users}
    for seeded in DEMO["users"]:
        got = by_login[seeded["profile"]["login"]]
        assert got.id == seeded["id"]
        assert got.status.value == "ACTIVE"
        assert got.profile.first_name == seeded["profile"]["firstName"]
        assert got.profile.last_name == seeded["profile"]["lastName"]


async def _list_users(client):
    return ok(await client.list_users())


def test_the_sdk_gets_the_same_user_by_id_and_by_login(okta_sim):
    async def scenario(client):
        return ok(await client.get_user(ADA["id"])), ok(await client.get_user(ADA["profile"]["login"]))

    by_id, by_login = run_with_client(ssws_config(okta_sim), scenario)
    for user in (by_id, by_login):
        assert user.id == ADA["id"]
        assert user.status.value == "ACTIVE"
        assert user.profile.login == ADA["profile"]["login"]
        assert user.profile.email == ADA["profile"]["email"]
        assert user.profile.first_name == "Ada"
        assert user.profile.last_name == "Lovelace"
        assert user.profile.department == "Engineering"
    assert by_id.model_dump() == by_login.model_dump()


def test_deactivating_a_user_makes_it_deprovisioned_when_fetched_again(okta_sim):
    async def scenario(client):
        before = ok(await client.get_user(ADA["id"]))
        ok(await client.deactivate_user(ADA["id"]))
        after = ok(await client.get_user(ADA["id"]))
        listed = ok(await client.list_users())
        return before, after, listed

    before, after, listed = run_with_client(ssws_config(okta_sim), scenario)
    assert before.status.value == "ACTIVE"
    assert after.status.value == "DEPROVISIONED"
    assert after.id == ADA["id"]
    # Like Okta, a plain list (no filter/search) hides DEPROVISIONED users.
    assert {u.profile.login for u in listed} == ALL_DEMO_LOGINS - {ADA["profile"]["login"]}
    state = _sim_call(okta_sim, "GET", "/_sim/state")
    sim_user = next(u for u in state["users"] if u["id"] == ADA["id"])
    assert sim_user["status"] == "DEPROVISIONED"


def test_a_users_groups_are_everyone_plus_the_demo_groups_it_belongs_to(okta_sim):
    async def scenario(client):
        return ok(await client.list_user_groups(ADA["id"]))

    groups = run_with_client(ssws_config(okta_sim), scenario)
    # GroupProfile is an anyOf wrapper in okta 3.x; the parsed profile is `actual_instance`.
    got = {(g.id, g.profile.actual_instance.name, g.type.value) for g in groups}
    expected = demo_groups_of(ADA["id"])
    assert got == expected
    assert {name for _, name, _ in got} == {
        "Everyone", "Engineering", "VPN Users", "GitHub Admins", "AD Domain Users",
    }
    assert len(groups) == len(expected)


def test_the_system_log_records_the_deactivation_of_that_user(okta_sim):
    async def scenario(client):
        ok(await client.deactivate_user(ADA["id"]))
        filtered = ok(await client.list_log_events(filter='eventType eq "user.lifecycle.deactivate"'))
        everything = ok(await client.list_log_events())
        return filtered, everything

    filtered, everything = run_with_client(ssws_config(okta_sim), scenario)
    assert [e.event_type for e in filtered] == ["user.lifecycle.deactivate"]
    event = filtered[0]
    assert event.outcome.result == "SUCCESS"
    assert [(t.id, t.type, t.alternate_id, t.display_name) for t in event.target] == [
        (ADA["id"], "User", ADA["profile"]["login"], "Ada Lovelace")
    ]
    assert event.actor.id == TOKEN_OWNER["id"]
    assert event.actor.alternate_id == TOKEN_OWNER["login"]
    assert event.uuid and event.published is not None
    assert event.uuid in {e.uuid for e in everything}
    deactivations = [e for e in everything if e.event_type == "user.lifecycle.deactivate"]
    assert [t.id for e in deactivations for t in e.target] == [ADA["id"]]


def test_private_key_jwt_authentication_lists_users_too(okta_sim):
    users = run_with_client(private_key_config(okta_sim), lambda c: _list_users(c))
    assert {u.profile.login for u in users} == ALL_DEMO_LOGINS
    counters = _sim_call(okta_sim, "GET", "/_sim/counters")
    # The SDK really went through /oauth2/v1/token (counters were reset before this test).
    assert counters["requests"].get("token", 0) >= 1, counters
