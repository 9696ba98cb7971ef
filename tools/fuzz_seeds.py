#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/seeds/<target>/ from the real fixtures
(tests/fixtures, tests/okta-sim/demo-org.json) and a few answers as the services send
them. The seeds are committed; `make fuzz` starts each target's corpus from them and the
mutation tests (functions/lifecycle/tests/parsers_mutated.rs) mutate them."""

import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def dump(v):
    return json.dumps(v, indent=1).encode()


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    fixtures = sorted((ROOT / "tests" / "fixtures").glob("*.json"))
    org = json.loads((ROOT / "tests" / "okta-sim" / "demo-org.json").read_text())
    users, groups = org.get("users", []), org.get("groups", [])
    events = [e for f in fixtures for e in json.loads(f.read_text())["data"]["events"]]
    seeds = {
        "hook_envelope": {f.name: f.read_bytes() for f in fixtures},
        "log_page": {
            "page-next.txt": b'<https://acme.okta.com/api/v1/logs?limit=2>; rel="self", '
            b'<https://acme.okta.com/api/v1/logs?after=1700000000000_1&limit=2>; rel="next"\n'
            + dump(events),
            "last-page.txt": b'<https://acme.okta.com/api/v1/logs?limit=2>; rel="self"\n[]',
        },
        "link_header": {
            "two-headers.txt": b'<https://x.okta.com/api/v1/logs?limit=2>; rel="self"\n'
            b'<https://x.okta.com/api/v1/logs?after=abc&limit=2>; rel="next"',
            "one-header.txt": b'<https://x/api/v1/users?filter=a,b&limit=2>; rel="self", '
            b"<https://x/api/v1/users?after=00u9&limit=2>;rel=next",
            "params.txt": b'<https://x/p?after=1>; title="a, b"; rel="prev next"',
        },
        "scim_response": {
            "user.json": dump({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                               "id": "2819c223", "userName": "ada@example.com", "active": True}),
            "search.json": dump({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                                 "totalResults": 1, "Resources": [{"id": "2819c223", "active": False}]}),
            "empty-search.json": dump({"totalResults": 0, "Resources": []}),
        },
        "okta_objects": {
            "users.json": dump(users),
            "groups.json": dump(groups),
            **({"user.json": dump(users[0])} if users else {}),
        },
        "targets_secret": {
            "full.json": dump({"scim": [{"name": "wiki", "base_url": "http://127.0.0.1:1/scim/", "token": "t0k"}],
                               "webhooks": [{"name": "hr", "url": "https://hr.example.com/h",
                                             "secret": "0123456789abcdef"}]}),
            "empty.json": b"{}",
            "okta-ssws.json": dump({"apiToken": "00sim-demo-ssws-token-TEST-ONLY"}),
        },
        "actions_request": {
            "every-kind.json": dump({"idempotency_key": "k-1", "dry_run": True, "actions": [
                {"type": "SYNC_IDENTITIES", "login": "ada@example.com", "email": "ada@example.com",
                 "first_name": "Ada", "last_name": "Lovelace", "department": "Maths", "staged": True},
                {"type": "MANAGE_RELATIONSHIPS", "user": "ada@example.com",
                 "add": ["Engineering", "00g1234567890abcdefg"], "remove": ["Sales"]},
                {"type": "DEPROVISION_IDENTITY", "user": "00u1abcdEFGH", "mode": "suspend"},
                {"type": "DELETE_IDENTITY", "user": "ada@example.com", "confirm": "ada@example.com"},
                {"type": "CREATE_ENTITLEMENT", "name": " Analysts ", "description": "who analyse"},
                {"type": "RESET_PASSWORD", "user": "ada@example.com", "send_email": True},
                {"type": "RESTORE_IDENTITY", "user": "00u1abcdEFGH"},
            ]}),
        },
        "hr_file": {
            "plain.csv": b"login,email,first_name,last_name,department,groups,status\n"
            b"ada@example.com,ada@example.com,Ada,Lovelace,Maths,Engineering;Staff,active\n"
            b'bob@example.com,bob@example.com,Bob,Byte,"R&D, ""Labs""",,leaver\n',
            "bom-crlf.csv": b"\xef\xbb\xbflogin,email,first_name,last_name\r\n"
            b"ada@example.com,ada@example.com,Ada,Lovelace\r\n",
            "mapped.csv": b'{"columns": {"Work Email": "email"}, "ignore": ["Notes"]}\n'
            b"login,Work Email,first_name,last_name,Notes\nada@example.com,ada@example.com,Ada,Lovelace,x\n",
            "lines.jsonl": b'{"login": "ada@example.com", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}\n'
            b'{"login": "bob@example.com", "email": "bob@example.com", "first_name": "Bob", "last_name": "Byte", "status": "leaver"}\n',
        },
    }
    for target, files in seeds.items():
        (SEEDS / target).mkdir(parents=True)
        for name, data in files.items():
            (SEEDS / target / name).write_bytes(data)
    print(f"{sum(map(len, seeds.values()))} seeds for {len(seeds)} targets in {SEEDS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
