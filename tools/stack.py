#!/usr/bin/env python3
"""The local stack: moto (DynamoDB, its stream, Secrets Manager, SQS), the functions
under `cargo lambda watch`, a gateway that maps the template's HTTP API routes to them,
the Okta org simulator with the demo org and an event hook registered, verified and
active, the targets deprovisioning reaches (a SCIM 2.0 application seeded with the demo
users, and a receiver for signed webhooks), and a driver that feeds the table's stream to
the deprovision function as Lambda's event source mapping would.

    stack.py up       start everything in the background, write .local/stack.env
    stack.py down     stop exactly what `up` started, by process id
    stack.py status   show what is running
    stack.py serve    block until interrupted, then stop the stack

Every process is started in its own session; its pid (= session id) is recorded in
.local/pids/, and `down` signals that session only, after checking the pid still runs
the command that was started.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
PIDS = LOCAL / "pids"
LOGS = LOCAL / "logs"
VENV_BIN = ROOT / ".venv" / "bin"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from template import Template  # noqa: E402

HOST = "127.0.0.1"
MOTO_PORT = int(os.environ.get("MOTO_PORT", "5055"))
LAMBDA_PORT = int(os.environ.get("LAMBDA_PORT", "9100"))
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8787"))
OKTA_PORT = int(os.environ.get("OKTA_PORT", "8790"))
SCIM_PORT = int(os.environ.get("SCIM_PORT", "8792"))
WEBHOOK_PORT = int(os.environ.get("WEBHOOK_PORT", "8793"))
POLL_INTERVAL = int(os.environ.get("POLL_INTERVAL_SECONDS", "60"))
# LAMBDA_PROFILE=release runs the functions' release builds (build them first: `cargo
# build --release`, or the first invocation of each compiles it); a benchmark that weighs
# a function measures what would be deployed, not a debug build.
LAMBDA_PROFILE = os.environ.get("LAMBDA_PROFILE", "dev")
OKTA_CREDENTIALS_NAME = "okta-lifecycle/local/okta-credentials"
OKTA_SIM = ROOT / "target" / "debug" / "okta-sim"
DEMO_ORG = ROOT / "tests" / "okta-sim" / "demo-org.json"
DEMO_KEY = ROOT / "tests" / "okta-sim" / "demo-service-app.key.pem"
REGION = os.environ.get("AWS_REGION", "us-east-1")
TABLE_NAME = "okta-lifecycle-local"
AUDIT_TABLE_NAME = "okta-lifecycle-local-audit"
STACK_NAME = "okta-lifecycle-local"
# Instances of each function `cargo lambda watch` may run at once: a burst of hook
# deliveries is served in parallel, as Lambda would, not queued for one instance.
HOOK_INSTANCES = 16
SECRET_NAME = "okta-lifecycle/local/hook-secret"
SCIM_TOKEN_FILE = LOCAL / "scim-token"
TARGETS_NAME = "okta-lifecycle/local/targets"
DLQ_NAME = "okta-lifecycle-local-deprovision-dlq"
SYNC_BUCKET = "okta-lifecycle-local-sync"
# The local sync function's scope and managed groups (the template's parameters): the
# HR files dropped into the local bucket speak for users of this type.
LOCAL_SYNC_USER_TYPE = "DropSynced"
LOCAL_SYNC_GROUPS = "Drop-"
# The test suite deprovisions hundreds of users on one stack; the fuse is tested in-process.
LOCAL_FUSE_LIMIT = "100000"
LOCAL_SECRET_REFRESH = "5"
# Locally a reactivation restores access too (in a deployment that is opt-in).
LOCAL_EVENT_TYPES = "user.lifecycle.deactivate,user.lifecycle.delete.initiated,user.lifecycle.activate"
AWS_ENV = {
    "AWS_ENDPOINT_URL": f"http://{HOST}:{MOTO_PORT}",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
}


def log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False


def wait_port(port: int, name: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode}; see {LOGS / name}.log")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"{name} did not listen on {HOST}:{port} within {timeout:.0f}s; see {LOGS / name}.log")


def start(name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    out = open(LOGS / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                            start_new_session=True)
    # The program (or script) path identifies the process later, should the pid be reused.
    fingerprint = argv[1] if Path(argv[0]).name.startswith("python") else argv[0]
    (PIDS / f"{name}.pid").write_text(f"{proc.pid}\n{fingerprint}\n")
    log(f"started {name} (pid {proc.pid})")
    return proc


def session_members(sid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat: session id
            members.append(int(entry.name))
    return members


def alive(pid: int, fingerprint: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return fingerprint in cmdline


def stop(name: str) -> None:
    pid_file = PIDS / f"{name}.pid"
    if not pid_file.exists():
        return
    pid_text, fingerprint = (pid_file.read_text().split("\n") + [""])[:2]
    pid = int(pid_text)
    members = session_members(pid) if alive(pid, fingerprint) else []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for member in members:
            try:
                os.kill(member, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(Path(f"/proc/{m}").exists() and not _zombie(m) for m in members):
            time.sleep(0.1)
        members = [m for m in members if Path(f"/proc/{m}").exists() and not _zombie(m)]
        if not members:
            break
    pid_file.unlink(missing_ok=True)
    log(f"stopped {name} (pid {pid})")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def boto(service: str):
    import boto3
    return boto3.client(service, endpoint_url=AWS_ENV["AWS_ENDPOINT_URL"], region_name=REGION,
                        aws_access_key_id="local", aws_secret_access_key="local")


def provision(template: Template) -> dict[str, str]:
    """Creates the state table, the audit table and the secret from the template and
    enables the integration."""
    ddb = boto("dynamodb")
    ddb.create_table(**template.create_table_args(TABLE_NAME))
    ddb.get_waiter("table_exists").wait(TableName=TABLE_NAME)
    ttl = template.ttl_attribute()
    if ttl:
        ddb.update_time_to_live(TableName=TABLE_NAME,
                                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})
    audit_logical, _ = template.audit_table()
    ddb.create_table(**template.create_table_args(AUDIT_TABLE_NAME, audit_logical))
    ddb.get_waiter("table_exists").wait(TableName=AUDIT_TABLE_NAME)
    ddb.put_item(TableName=TABLE_NAME, Item={
        "pk": {"S": "CONFIG"}, "sk": {"S": "INTEGRATION"}, "enabled": {"BOOL": True}})
    sm = boto("secretsmanager")
    secret_string = template.generate_secret_string()
    arn = sm.create_secret(Name=SECRET_NAME, SecretString=secret_string)["ARN"]
    token = json.loads(secret_string)["token"] if secret_string.startswith("{") else secret_string
    stream = ddb.describe_table(TableName=TABLE_NAME)["Table"].get("LatestStreamArn", "")
    table_logical, _ = template.table()
    secret_logical, _ = template.secret()
    return {"table_logical": table_logical, "audit_table_logical": audit_logical,
            "secret_logical": secret_logical,
            "secret_arn": arn, "token": token, "stream_arn": stream}


def host_cert_file(env: dict[str, str]) -> dict[str, str]:
    """The template names provided.al2023's CA bundle as the one file of the trust store
    (`SSL_CERT_FILE`). Where this machine keeps its bundle elsewhere (Debian:
    /etc/ssl/certs/ca-certificates.crt), the functions read this machine's bundle
    instead, so that they load one bundle here as they do on Lambda."""
    named = env.get("SSL_CERT_FILE")
    if named and not Path(named).is_file():
        import ssl
        paths = ssl.get_default_verify_paths()
        found = next((p for p in (paths.cafile, paths.openssl_cafile) if p and Path(p).is_file()), None)
        if found is None:
            raise SystemExit(f"no CA bundle on this machine for SSL_CERT_FILE (the template names {named})")
        env = {**env, "SSL_CERT_FILE": str(Path(found).resolve())}
    return env


def write_env(path: Path, values: dict[str, str], shell: bool = True) -> None:
    """KEY=VALUE lines; for a shell to source, values are quoted where they need it.
    `cargo lambda watch --env-file` takes them verbatim, so those must need no quoting."""
    if not shell:
        unsafe = [k for k, v in values.items() if shlex.quote(v) != v]
        if unsafe:
            raise SystemExit(f"function environment values need quoting: {unsafe}")
    path.write_text("".join(f"{k}={shlex.quote(v) if shell else v}\n" for k, v in values.items()))


def up() -> None:
    if PIDS.exists() and any(PIDS.iterdir()):
        raise SystemExit("the stack is already up (or was not stopped): run `make down` first")
    busy = [p for p in (MOTO_PORT, LAMBDA_PORT, GATEWAY_PORT, OKTA_PORT, SCIM_PORT, WEBHOOK_PORT)
            if not port_free(p)]
    if busy:
        raise SystemExit(f"ports in use on {HOST}: {busy}; "
                         "set MOTO_PORT/LAMBDA_PORT/GATEWAY_PORT/OKTA_PORT/SCIM_PORT/WEBHOOK_PORT")
    if not OKTA_SIM.exists():
        raise SystemExit(f"{OKTA_SIM} not built: run `make build`")
    LOCAL.mkdir(exist_ok=True)
    template = Template(ROOT / "infra" / "template.yaml")
    try:
        moto = start("moto", [str(VENV_BIN / "python"), str(ROOT / "tools" / "moto_server.py"),
                             "-H", HOST, "-p", str(MOTO_PORT)])
        wait_port(MOTO_PORT, "moto", 30, moto)
        os.environ.update(AWS_ENV)
        made = provision(template)
        demo = json.loads(DEMO_ORG.read_text())
        targets = start_targets(demo["users"])
        mapping = template.stream_mapping()
        dlq_url = boto("sqs").create_queue(
            QueueName=DLQ_NAME, Attributes=template.queue_attributes(mapping["on_failure"]))["QueueUrl"]
        drop_rule = template.s3_drop_rule()
        boto("s3").create_bucket(Bucket=SYNC_BUCKET)
        boto("s3").put_bucket_versioning(Bucket=SYNC_BUCKET,
                                         VersioningConfiguration={"Status": "Enabled"})
        targets_arn = boto("secretsmanager").create_secret(Name=TARGETS_NAME, SecretString=json.dumps({
            "scim": [{"name": "demo-app", "base_url": targets["scim_url"], "token": targets["scim_token"] or None}],
            "webhooks": [{"name": "internal", "url": f"{targets['webhook_url']}/hook",
                          "secret": targets["webhook_secret"]}]}))["ARN"]

        okta = start("okta-sim", [str(OKTA_SIM), "--listen", f"{HOST}:{OKTA_PORT}",
                                  "--seed-file", str(DEMO_ORG), "--seed", "1"])
        wait_port(OKTA_PORT, "okta-sim", 30, okta)
        okta_url = f"http://{HOST}:{OKTA_PORT}"
        api_token = demo["apiTokens"][0]["token"]
        service_app = demo["oauthClients"][0]
        okta_credentials = boto("secretsmanager").create_secret(
            Name=OKTA_CREDENTIALS_NAME,
            SecretString=json.dumps({"client_id": service_app["clientId"],
                                     "private_key": DEMO_KEY.read_text(),
                                     "scopes": "okta.logs.read okta.users.read "
                                               "okta.users.manage okta.groups.manage "
                                               "okta.eventHooks.read"}))["ARN"]

        fn_env = template.function_environment({
            made["table_logical"]: TABLE_NAME, made["audit_table_logical"]: AUDIT_TABLE_NAME,
            made["secret_logical"]: made["secret_arn"],
            "OktaOrgUrl": okta_url, "OktaCredentials": okta_credentials, "Targets": targets_arn,
            "FuseLimit": LOCAL_FUSE_LIMIT, "EnabledEventTypes": LOCAL_EVENT_TYPES,
            "SyncScopeUserType": LOCAL_SYNC_USER_TYPE, "SyncManageGroups": LOCAL_SYNC_GROUPS})
        fn_env = host_cert_file(fn_env)
        fn_env.update(AWS_ENV)
        fn_env.update({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
        # A refused credential may be read again after 5 s (30 s deployed), so the rotation
        # tests' jobs deferred behind a read made moments before wait seconds, not half a minute.
        fn_env["SECRET_REFRESH_SECONDS"] = LOCAL_SECRET_REFRESH
        # moto answers one request at a time: users of a batch side by side would only
        # queue in it, past the functions' 800 ms attempt timeout (DynamoDB takes them).
        fn_env["BATCH_USERS_AT_ONCE"] = os.environ.get("BATCH_USERS_AT_ONCE", "1")
        # An empty parameter (SyncScopeGroup, say) is a variable left unset: the functions
        # read an empty value as unset, and the env file cannot hold one.
        fn_env = {k: v for k, v in fn_env.items() if v != ""}
        write_env(LOCAL / "functions.env", fn_env, shell=False)

        # Lambda runs one instance of the deprovision function per stream lane at once
        # (the stream driver invokes no more), and as many of the hook's as deliveries
        # arrive at once; cargo lambda watch runs one instance per function unless told
        # otherwise, and its setting is per function.
        lanes = template.stream_mapping()["parallelization"]
        watch = start("lambda", [str(VENV_BIN / "cargo-lambda"), "lambda", "watch",
                                 "--invoke-address", HOST, "--invoke-port", str(LAMBDA_PORT),
                                 "--env-file", str(LOCAL / "functions.env"),
                                 "--concurrency", str(max(lanes, HOOK_INSTANCES)),
                                 "--ignore-changes", "--quiet"]
                      + (["--release"] if LAMBDA_PROFILE == "release" else []))
        wait_port(LAMBDA_PORT, "lambda", 60, watch)

        routes = template.routes()
        (LOCAL / "routes.json").write_text(json.dumps(routes, indent=2))
        gateway = start("gateway", [str(VENV_BIN / "python"), str(ROOT / "tools" / "gateway.py"),
                                    "--port", str(GATEWAY_PORT), "--routes", str(LOCAL / "routes.json"),
                                    "--lambda-url", f"http://{HOST}:{LAMBDA_PORT}"])
        wait_port(GATEWAY_PORT, "gateway", 30, gateway)
        for function in sorted({r["function"] for r in routes}):
            warm(function)
        warm_scheduled("log-poller")
        warm_stream(mapping["function"])
        warm_drops(drop_rule["function"])

        hook_id = register_hook(okta_url, api_token, f"http://{HOST}:{GATEWAY_PORT}/okta",
                                fn_env.get("HOOK_AUTH_HEADER", "Authorization"), made["token"],
                                fn_env["ENABLED_EVENT_TYPES"].split(","))
        start("ticker", [str(VENV_BIN / "python"), str(ROOT / "tools" / "ticker.py"),
                                  "--lambda-url", f"http://{HOST}:{LAMBDA_PORT}",
                                  "--function", "log-poller", "--interval", str(POLL_INTERVAL)])
        # Last, once the function is warm: Lambda's event source mapping for the stream.
        start("streams", [str(VENV_BIN / "python"), str(ROOT / "tools" / "streams.py"),
                          "--lambda-url", f"http://{HOST}:{LAMBDA_PORT}",
                          "--stream-arn", made["stream_arn"], "--dlq-url", dlq_url])

        # EventBridge and Lambda's asynchronous invocation for the sync bucket.
        start("drops", [str(VENV_BIN / "python"), str(ROOT / "tools" / "drops.py"),
                        "--lambda-url", f"http://{HOST}:{LAMBDA_PORT}",
                        "--bucket", SYNC_BUCKET, "--dlq-url", dlq_url])

        stack_env = {
            "API_URL": f"http://{HOST}:{GATEWAY_PORT}",
            "HOOK_URL": f"http://{HOST}:{GATEWAY_PORT}/okta",
            "ACTIONS_URL": f"http://{HOST}:{GATEWAY_PORT}/actions",
            "LAMBDA_URL": f"http://{HOST}:{LAMBDA_PORT}",
            **AWS_ENV,
            "TABLE_NAME": TABLE_NAME,
            "AUDIT_TABLE_NAME": AUDIT_TABLE_NAME,
            "TABLE_STREAM_ARN": made["stream_arn"],
            "HOOK_SECRET_ID": made["secret_arn"],
            "HOOK_SECRET": made["token"],
            "HOOK_AUTH_HEADER": fn_env.get("HOOK_AUTH_HEADER", "Authorization"),
            "OKTA_URL": okta_url,
            "OKTA_API_TOKEN": api_token,
            "OKTA_CLIENT_ID": service_app["clientId"],
            "OKTA_PRIVATE_KEY_FILE": str(DEMO_KEY),
            "OKTA_SCOPES": " ".join(service_app["scopes"]),
            "OKTA_EVENT_HOOK_ID": hook_id,
            "OKTA_CREDENTIALS_SECRET_ID": okta_credentials,
            "POLL_INTERVAL_SECONDS": str(POLL_INTERVAL),
            "SCIM_URL": targets["scim_url"],
            "SCIM_TOKEN": targets["scim_token"],
            "SCIM_TOKEN_FILE": str(SCIM_TOKEN_FILE),
            "WEBHOOK_RECEIVER_URL": targets["webhook_url"],
            "WEBHOOK_SECRET": targets["webhook_secret"],
            "TARGETS_SECRET_ID": targets_arn,
            "DLQ_URL": dlq_url,
            "SYNC_BUCKET": SYNC_BUCKET,
            "SYNC_FUNCTION": drop_rule["function"],
            "SYNC_USER_TYPE": LOCAL_SYNC_USER_TYPE,
            "SYNC_GROUPS": LOCAL_SYNC_GROUPS,
        }
        register_stack(template, {
            "HookUrl": stack_env["HOOK_URL"], "ActionsUrl": stack_env["ACTIONS_URL"],
            "TableName": TABLE_NAME, "AuditTableName": AUDIT_TABLE_NAME, "HookSecretArn": made["secret_arn"],
            "OktaCredentialsArn": okta_credentials, "TargetsArn": targets_arn,
            "DeadLetterQueueUrl": dlq_url, "SyncBucketName": SYNC_BUCKET})
        stack_env["STACK_NAME"] = STACK_NAME
        (LOCAL / "table.json").write_text(json.dumps(template.create_table_args(TABLE_NAME), indent=2))
        (LOCAL / "audit-table.json").write_text(json.dumps(
            template.create_table_args(AUDIT_TABLE_NAME, made["audit_table_logical"]), indent=2))
        write_env(LOCAL / "stack.env", stack_env)
        log(f"up: hook endpoint {stack_env['HOOK_URL']}; settings in .local/stack.env")
    except BaseException:
        log("start failed; stopping what was started")
        down()
        raise


def register_stack(template: Template, outputs: dict[str, str]) -> None:
    """A CloudFormation stack in moto with the template's outputs as the local stack has
    them, so `lifecycle-ops --stack` reads a real DescribeStacks answer. Only outputs the
    template declares are registered: a renamed output shows here first."""
    declared = template.doc.get("Outputs", {})
    unknown = set(outputs) - set(declared)
    if unknown:
        raise SystemExit(f"outputs the template does not declare: {sorted(unknown)}")
    body = {
        "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {k: {"Value": v, "Description": declared[k].get("Description", k)}
                    for k, v in outputs.items()},
    }
    cf = boto("cloudformation")
    try:
        cf.delete_stack(StackName=STACK_NAME)
    except Exception:  # noqa: BLE001 - none registered yet
        pass
    cf.create_stack(StackName=STACK_NAME, TemplateBody=json.dumps(body))


def start_targets(users: list[dict]) -> dict[str, str]:
    """Starts the systems deprovisioning reaches besides Okta: scim2-server, seeded with
    one account per demo user, and the webhook receiver. Their credentials are generated
    here and handed over in the environment, never on a command line."""
    scim_token = secrets.token_urlsafe(32)
    # The application's side of a token rotation: the token it accepts is this file's.
    SCIM_TOKEN_FILE.unlink(missing_ok=True)
    SCIM_TOKEN_FILE.touch(mode=0o600)
    SCIM_TOKEN_FILE.write_text(scim_token)
    scim = start("scim", [str(VENV_BIN / "python"), str(ROOT / "tools" / "scim_server.py"),
                          "--hostname", HOST, "--port", str(SCIM_PORT)],
                 env={"SCIM_TOKEN": scim_token, "SCIM_TOKEN_FILE": str(SCIM_TOKEN_FILE)})
    wait_port(SCIM_PORT, "scim", 30, scim)
    scim_url = f"http://{HOST}:{SCIM_PORT}/v2"
    for user in users:
        profile = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": user["profile"]["login"],
                   "name": {"givenName": user["profile"]["firstName"],
                            "familyName": user["profile"]["lastName"]},
                   "emails": [{"value": user["profile"]["email"], "primary": True}],
                   "active": True}
        if user.get("id"):
            profile["externalId"] = user["id"]
        req = urllib.request.Request(f"{scim_url}/Users", data=json.dumps(profile).encode(), method="POST",
                                     headers={"Content-Type": "application/scim+json",
                                              "Authorization": f"Bearer {scim_token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status != 201:
                raise SystemExit(f"scim: seeding {profile['userName']} answered {resp.status}")
    log(f"scim: {len(users)} demo users seeded")

    # A Standard Webhooks secret: whsec_ and the base64 of 32 random bytes.
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    receiver = start("webhook", [str(VENV_BIN / "python"), str(ROOT / "tools" / "webhook_receiver.py"),
                                 "--port", str(WEBHOOK_PORT)], env={"WEBHOOK_SECRET": webhook_secret})
    wait_port(WEBHOOK_PORT, "webhook", 30, receiver)
    return {"scim_url": scim_url, "scim_token": scim_token,
            "webhook_url": f"http://{HOST}:{WEBHOOK_PORT}", "webhook_secret": webhook_secret}


def warm_stream(function: str) -> None:
    """Invokes the stream function once with an empty batch, for the same reason as
    `warm`: the first job should not wait for a compilation."""
    req = urllib.request.Request(
        f"http://{HOST}:{LAMBDA_PORT}/2015-03-31/functions/{function}/invocations",
        data=b'{"Records":[]}', method="POST", headers={"content-type": "application/json"})
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=900) as resp:
        answer = json.loads(resp.read() or b"null")
    if answer != {"batchItemFailures": []}:
        raise SystemExit(f"{function}: unexpected warm-up answer {answer!r}")
    log(f"{function} ready ({time.monotonic() - started:.1f}s)")


def warm(function: str) -> None:
    """Invokes a function once so `cargo lambda watch` builds and starts it now rather
    than inside the first test's timeout."""
    event = {"version": "2.0", "routeKey": "$default", "rawPath": "/_warmup", "rawQueryString": "",
             "headers": {}, "isBase64Encoded": False,
             "requestContext": {"http": {"method": "GET", "path": "/_warmup", "protocol": "HTTP/1.1",
                                         "sourceIp": HOST, "userAgent": "stack"},
                                "requestId": "warmup", "routeKey": "$default", "stage": "$default",
                                "accountId": "000000000000", "apiId": "local", "domainName": "localhost",
                                "domainPrefix": "localhost", "time": "", "timeEpoch": 0}}
    req = urllib.request.Request(
        f"http://{HOST}:{LAMBDA_PORT}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(), method="POST")
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=900) as resp:
        answer = json.loads(resp.read())
    if answer.get("statusCode") != 404:
        raise SystemExit(f"{function}: unexpected warm-up answer {answer}")
    log(f"{function} ready ({time.monotonic() - started:.1f}s)")


def warm_drops(function: str) -> None:
    """Invokes the sync function once with a notification that names no object, so
    `cargo lambda watch` builds and starts it before the first drop."""
    req = urllib.request.Request(
        f"http://{HOST}:{LAMBDA_PORT}/2015-03-31/functions/{function}/invocations",
        data=json.dumps({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}).encode(),
        method="POST")
    started = time.monotonic()
    with urllib.request.urlopen(req, timeout=900) as resp:
        answer = json.loads(resp.read())
    if answer != []:
        raise SystemExit(f"{function}: unexpected warm-up answer {answer}")
    log(f"{function} ready ({time.monotonic() - started:.1f}s)")


def okta_call(okta_url: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{okta_url}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"SSWS {token}",
                                          "Content-Type": "application/json",
                                          "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


def register_hook(okta_url: str, token: str, uri: str, header: str, secret: str,
                  event_types: list[str]) -> str:
    """Does what an admin does on Okta's Event Hooks page: create, verify, activate."""
    hook = okta_call(okta_url, token, "POST", "/api/v1/eventHooks", {
        "name": "okta-lifecycle (local)",
        "events": {"type": "EVENT_TYPE", "items": event_types},
        "channel": {"type": "HTTP", "version": "1.0.0", "config": {
            "uri": uri, "headers": [],
            "authScheme": {"type": "HEADER", "key": header, "value": secret}}},
    })
    verified = okta_call(okta_url, token, "POST", f"/api/v1/eventHooks/{hook['id']}/lifecycle/verify")
    if verified.get("verificationStatus") != "VERIFIED" or verified.get("status") != "ACTIVE":
        raise SystemExit(f"event hook not verified/active: {verified}")
    log(f"event hook {hook['id']} registered in the simulator, verified and active")
    return hook["id"]


def warm_scheduled(function: str) -> None:
    """Runs a scheduled function once (one real run), for the same reason as `warm`."""
    started = time.monotonic()
    out = subprocess.run([str(VENV_BIN / "python"), str(ROOT / "tools" / "ticker.py"),
                          "--lambda-url", f"http://{HOST}:{LAMBDA_PORT}", "--function", function,
                          "--interval", "0", "--once"], capture_output=True, text=True, timeout=900)
    answer = json.loads(out.stdout or "{}").get("answer")
    if not isinstance(answer, dict) or "outcome" not in answer:
        raise SystemExit(f"{function}: unexpected warm-up answer {answer!r}")
    log(f"{function} ready ({time.monotonic() - started:.1f}s): first run {answer['outcome']}")


def down() -> None:
    for name in ("drops", "streams", "ticker", "okta-sim", "gateway", "lambda", "webhook", "scim", "moto"):
        stop(name)
    if PIDS.exists() and not any(PIDS.iterdir()):
        PIDS.rmdir()


def status() -> None:
    if not PIDS.exists():
        print("stack is down")
        return
    for pid_file in sorted(PIDS.iterdir()):
        pid_text, fingerprint = (pid_file.read_text().split("\n") + [""])[:2]
        state = "running" if alive(int(pid_text), fingerprint) else "gone"
        print(f"{pid_file.stem:8} pid {pid_text:>7} {state}")


def serve() -> None:
    log("serving; press Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        down()


if __name__ == "__main__":
    commands = {"up": up, "down": down, "status": status, "serve": serve}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: stack.py {{{'|'.join(commands)}}}")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    commands[sys.argv[1]]()
