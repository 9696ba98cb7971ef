#!/usr/bin/env python3
"""`make bench`: latency, init time, binary size and peak memory of the hook functions.

What it measures, all on this machine, against moto and the real function binaries:

1. Latency of event deliveries through the Lambda Runtime API. The x86_64 release
   binary of hook-intake runs against a minimal fake Runtime API served by this script;
   a delivery's latency is the time from handing the event out (`GET .../next`) to
   receiving the function's answer (`POST .../response`). Every delivery carries fresh
   event uuids and user ids, built from tests/fixtures/deactivate.json. bench-hello, a
   function that answers `{}`, gets the same deliveries: its latency is the floor this
   harness adds. moto's own latency for the calls intake makes is measured with boto3,
   so the reader can subtract it, and hook-intake's CPU time per event is read from
   /proc, which moto does not inflate.
2. Init time: process start to the first `GET .../invocation/next`, for hook-intake,
   hook-verify and bench-hello. The hook functions read the secret and the config item
   during init (the deliberate warm-up), through a counting proxy in front of moto; the
   time during which one of those calls is open there is their wait, and init less that
   wait (their own work, which their CPU time at the first poll confirms) is what is
   compared with bench-hello.
3. Size of the arm64 release binaries `make release` puts under target/lambda/.
4. Peak RSS (VmHWM) of hook-intake after the latency run, and of bench-hello.
5. Provisioning actions: the x86_64 release binary of `actions` under the same fake
   Runtime API, with its own moto table and Okta credentials secret, against its own
   okta-sim (release build, demo org). Per action type, single-action `POST /actions`
   requests: Okta calls per family (delta of `/_sim/counters`), per endpoint, table calls
   per operation and items written, and latency. Two small logging proxies in this script
   (function → proxy → moto, function → proxy → okta-sim) count the calls; they forward
   everything unchanged. Then a 100-action request (SYNC_IDENTITIES creates) with the
   sim's rate limits set to an Enterprise org's published per-minute figures, repeated
   with the same key until done, against the bound calls ÷ (limit × (1 − reserve)).
6. The audit export's and the report's peak RSS as the trail grows: the release
   `lifecycle-ops` over seeded trails of 0 to 100,000 lines in moto
   (tools/bench_export.py, which also runs alone).

The script starts everything it needs itself (its own moto on a free port, state in
.local/bench/), never touches the stack of `make up`, binds only to 127.0.0.1, and stops
every process it started, by pid, however it ends. The result is printed as markdown
and written to .local/bench.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_export  # noqa: E402  (section 6: the audit export's memory)
import stack  # noqa: E402  (table/secret provisioning, shared with the local stack)
from template import Template  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Where cargo puts its output: CARGO_TARGET_DIR when set (a worktree may share a target).
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
STATE = ROOT / ".local" / "bench"
REPORT = ROOT / ".local" / "bench.md"
VENV_BIN = ROOT / ".venv" / "bin"
FIXTURE = ROOT / "tests" / "fixtures" / "deactivate.json"
HOST = "127.0.0.1"
REGION = "us-east-1"

HOOK_FUNCTIONS = ("hook-intake", "hook-verify")
# Functions that are only weighed (size), not run: they need Okta (and the stream).
SIZED_ONLY = ("log-poller", "deprovision")
# Built by this script on their own (`make release` builds only the hook path's functions):
# `actions` is also run against okta-sim (section 5); `lifecycle-ops` is only weighed.
ACTIONS_BINARIES = ("actions", "lifecycle-ops")
BASELINE = "bench-hello"

# Targets the project aims for.
TARGET_HANDLER_MS_PER_EVENT = 1.0
TARGET_INIT_RATIO = 1.5
TARGET_BINARY_BYTES = 8_000_000

# Every wait is bounded.
PORT_TIMEOUT = 30.0
INVOKE_TIMEOUT = 30.0  # one delivery, including moto
INIT_TIMEOUT = 30.0  # process start to first poll
POLL_IDLE_LIMIT = 600.0  # a `GET .../next` nobody answers is dropped after this
STOP_TIMEOUT = 5.0
BUILD_TIMEOUT = 3600.0

RUNTIME_PREFIX = "/2018-06-01/runtime"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Processes: every one started is recorded, and stopped by pid.


class Processes:
    """The processes this run started; each in its own session (process group = pid)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: list[subprocess.Popen] = []

    def clear_logs(self) -> None:
        """Each run's logs start empty (a process started several times appends)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for old in self.log_dir.glob("*.log"):
            old.unlink()

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        """SIGTERM, then SIGKILL, to the process group the process leads."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                continue
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.running)):
            self.stop(proc)


def free_port() -> int:
    """A port the kernel says is free now (moto needs a number on its command line)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + PORT_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode}; see {STATE / 'logs' / name}.log")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not listen on {HOST}:{port} within {PORT_TIMEOUT:.0f}s")


def proc_status(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmHWM, VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------
# A minimal fake Lambda Runtime API: hands out one event at a time, times the answer.


class Invocation:
    def __init__(self, event: bytes):
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.handed_out = 0.0
        self.answered = 0.0
        self.outcome = ""  # "response" or "error"
        self.answer = b""
        self.done = threading.Event()

    def latency_ms(self) -> float:
        return (self.answered - self.handed_out) * 1000


class FakeRuntimeAPI:
    """Serves `GET /next`, `POST /{id}/response|error` and `POST /init/error` on a
    kernel-chosen port of 127.0.0.1."""

    def __init__(self, function_name: str):
        self.function_name = function_name
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.by_id: dict[str, Invocation] = {}
        self.first_poll = threading.Event()
        self.first_poll_at = 0.0
        self.init_error = ""
        self.closing = False
        self.server = RuntimeServer((HOST, 0), RuntimeHandler)
        self.server.runtime = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.server.server_address[1]}"

    def note_poll(self) -> None:
        if not self.first_poll.is_set():
            self.first_poll_at = time.perf_counter()
            self.first_poll.set()

    def next_invocation(self) -> Invocation | None:
        """Blocks like the real API, but only until closed or POLL_IDLE_LIMIT."""
        deadline = time.monotonic() + POLL_IDLE_LIMIT
        while not self.closing and time.monotonic() < deadline:
            try:
                return self.pending.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def invoke(self, event: bytes, proc: subprocess.Popen) -> Invocation:
        inv = Invocation(event)
        self.by_id[inv.request_id] = inv
        self.pending.put(inv)
        deadline = time.monotonic() + INVOKE_TIMEOUT
        while not inv.done.wait(timeout=0.1):
            if self.init_error:
                raise SystemExit(f"{self.function_name} reported an init error: {self.init_error}")
            if proc.poll() is not None:
                raise SystemExit(f"{self.function_name} exited with {proc.returncode} during an invocation")
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.function_name} did not answer within {INVOKE_TIMEOUT:.0f}s")
        return inv

    def close(self) -> None:
        self.closing = True
        self.server.shutdown()
        self.server.server_close()


class RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A function process stopped mid-connection is expected here, not an error."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the runtime client expects
    # Headers and body go out in two writes; with Nagle's algorithm the second would wait
    # for the client's delayed ACK (~40 ms) now and then.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        runtime: FakeRuntimeAPI = self.server.runtime
        if self.path != f"{RUNTIME_PREFIX}/invocation/next":
            return self._reply(404, b'{"errorMessage":"not found"}')
        runtime.note_poll()
        inv = runtime.next_invocation()
        if inv is None:
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000) + 10_000  # the template's 10 s timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(inv.event)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", inv.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         f"arn:aws:lambda:{REGION}:000000000000:function:{runtime.function_name}")
        self.send_header("Lambda-Runtime-Trace-Id",
                         f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0")
        inv.handed_out = time.perf_counter()
        self.end_headers()
        self.wfile.write(inv.event)

    def do_POST(self):
        runtime: FakeRuntimeAPI = self.server.runtime
        body = self._read_body()
        answered = time.perf_counter()
        parts = self.path[len(RUNTIME_PREFIX):].strip("/").split("/")
        if parts == ["init", "error"]:
            runtime.init_error = body.decode(errors="replace")[:500] or "(empty)"
            return self._reply(202, b'{"status":"OK"}')
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            inv = runtime.by_id.get(parts[1])
            if inv is None:
                return self._reply(400, b'{"errorMessage":"unknown request id"}')
            inv.answered, inv.outcome, inv.answer = answered, parts[2], body
            inv.done.set()
            return self._reply(202, b'{"status":"OK"}')
        return self._reply(404, b'{"errorMessage":"not found"}')

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        body = b""
        for _ in range(100_000):  # bounded: far more chunks than any answer has
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body
            body += self.rfile.read(size)
            self.rfile.readline()  # CRLF after each chunk
        raise RuntimeError("chunked body too long")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# ---------------------------------------------------------------------------------------
# Deliveries: API Gateway v2 events carrying Okta event hook bodies.


def okta_delivery(fixture: dict, events: int) -> bytes:
    """An Okta delivery of `events` copies of the fixture's event, each with a fresh uuid
    and a fresh target user id (everywhere the fixture's user id appears)."""
    original = fixture["data"]["events"][0]
    text = json.dumps(original)
    out = []
    for _ in range(events):
        user_id = "00u" + uuid.uuid4().hex[:17]
        copy = text.replace(original["target"][0]["id"], user_id).replace(original["uuid"], str(uuid.uuid4()))
        out.append(json.loads(copy))
    envelope = {**fixture, "eventId": str(uuid.uuid4()), "data": {"events": out}}
    return json.dumps(envelope).encode()


def http_api_event(body: bytes, token: str, auth_header: str) -> bytes:
    """The payload format 2.0 event API Gateway sends for `POST /okta` (as tools/gateway.py)."""
    now = time.time()
    request_id = uuid.uuid4().hex[:16]
    headers = {"content-type": "application/json", "content-length": str(len(body)),
               auth_header.lower(): token, "host": "localhost", "user-agent": "Okta Event Hooks"}
    event = {
        "version": "2.0", "routeKey": "POST /okta", "rawPath": "/okta", "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": "POST", "path": "/okta", "protocol": "HTTP/1.1",
                     "sourceIp": HOST, "userAgent": headers["user-agent"]},
            "requestId": request_id, "routeKey": "POST /okta", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body.decode(), "isBase64Encoded": False,
    }
    return json.dumps(event).encode()


def check_accepted(inv: Invocation, events: int) -> None:
    """hook-intake must have answered 200 and accepted every event, or the timing is
    of something else."""
    try:
        answer = json.loads(inv.answer)
        summary = json.loads(answer.get("body") or "{}")
    except ValueError:
        answer, summary = None, {}
    if inv.outcome != "response" or not answer or answer.get("statusCode") != 200 \
            or summary.get("accepted") != events:
        raise SystemExit(f"hook-intake did not accept the delivery of {events} events: "
                         f"{inv.outcome} {inv.answer[:300]!r}")


# ---------------------------------------------------------------------------------------
# The local stack: moto with the template's table and secret.


def boto(service: str, endpoint: str):
    import boto3
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="local", aws_secret_access_key="local")


def start_moto(procs: Processes) -> str:
    port = free_port()
    proc = procs.start("moto", [str(VENV_BIN / "python"), str(ROOT / "tools" / "moto_server.py"),
                                "-H", HOST, "-p", str(port)], env=dict(os.environ))
    wait_for_port(port, proc, "moto")
    return f"http://{HOST}:{port}"


def provision(endpoint: str) -> tuple[dict[str, str], str]:
    """Table, config item and secret as the local stack makes them; returns the functions'
    template environment and the hook token."""
    stack.AWS_ENV["AWS_ENDPOINT_URL"] = endpoint  # stack.provision talks to stack.AWS_ENV's endpoint
    template = Template(ROOT / "infra" / "template.yaml")
    made = stack.provision(template)
    env = template.function_environment({made["table_logical"]: stack.TABLE_NAME,
                                         made["audit_table_logical"]: stack.AUDIT_TABLE_NAME,
                                         made["secret_logical"]: made["secret_arn"]},
                                        binaries={"hook-intake", "hook-verify"})
    return stack.host_cert_file(env), made["token"]


def function_env(name: str, template_env: dict[str, str], endpoint: str, runtime_api: str) -> dict[str, str]:
    """A clean environment, as Lambda gives: nothing inherited from this shell."""
    return {
        **template_env,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
    }


# ---------------------------------------------------------------------------------------
# Statistics and the individual measurements.


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (with 50 samples, p99 is the maximum)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def measure_moto(endpoint: str, samples: int) -> dict[str, float]:
    """p50 (ms) of the moto calls intake and init make, through boto3."""
    ddb, sm = boto("dynamodb", endpoint), boto("secretsmanager", endpoint)
    table = stack.TABLE_NAME
    config_key = {"pk": {"S": "CONFIG"}, "sk": {"S": "INTEGRATION"}}
    secret_id = sm.list_secrets()["SecretList"][0]["ARN"]

    def put_job() -> None:
        """What intake writes per event: its job, on condition that it is new."""
        event_uuid, user = str(uuid.uuid4()), "00u" + uuid.uuid4().hex[:17]
        job = {"pk": {"S": f"USER#{user}"}, "sk": {"S": f"JOB#2026-11-23T09:41:05.512Z#{event_uuid}"},
               "kind": {"S": "job"}, "status": {"S": "pending"}, "attempts": {"N": "0"},
               "event_uuid": {"S": event_uuid}, "user_id": {"S": user}}
        ddb.put_item(TableName=table, Item=job, ConditionExpression="attribute_not_exists(pk)")

    calls = {
        "GetItem CONFIG (every delivery)": lambda: ddb.get_item(
            TableName=table, Key=config_key, ConsistentRead=True),
        "UpdateItem last_delivery_at (every delivery)": lambda: ddb.update_item(
            TableName=table, Key=config_key, UpdateExpression="SET #f = :now",
            ConditionExpression="attribute_not_exists(#f) OR #f < :now",
            ExpressionAttributeNames={"#f": "bench_probe"},
            ExpressionAttributeValues={":now": {"S": datetime.datetime.now(datetime.UTC).isoformat()}}),
        "PutItem job, conditional (1 event)": put_job,
        "GetSecretValue (init)": lambda: sm.get_secret_value(SecretId=secret_id),
    }
    result = {}
    for name, call in calls.items():
        call()  # first call opens the connection
        result[name] = statistics.median(timed(call) for _ in range(samples))
    return result


def run_deliveries(name: str, binary: Path, procs: Processes, template_env: dict[str, str],
                   endpoint: str, token: str, args) -> dict:
    """Starts one process of `binary` and sends it the single-event and the 100-event
    deliveries; returns latencies, CPU time per event and peak RSS."""
    fixture = json.loads(FIXTURE.read_text())
    auth_header = template_env.get("HOOK_AUTH_HEADER", "Authorization")
    check = name == "hook-intake"
    runtime = FakeRuntimeAPI(name)
    proc = None
    try:
        proc = procs.start(name, [str(binary)], function_env(name, template_env, endpoint, runtime.address))
        if not runtime.first_poll.wait(timeout=INIT_TIMEOUT):
            raise SystemExit(f"{name} did not poll for an event within {INIT_TIMEOUT:.0f}s")

        def deliver(events: int) -> Invocation:
            inv = runtime.invoke(http_api_event(okta_delivery(fixture, events), token, auth_header), proc)
            if inv.outcome != "response":
                raise SystemExit(f"{name} reported an invocation error: {inv.answer[:300]!r}")
            if check:
                check_accepted(inv, events)
            return inv

        for _ in range(args.warmup):
            deliver(1)
            deliver(args.batch_size)
        single = [deliver(1).latency_ms() for _ in range(args.single)]
        cpu_before = cpu_seconds(proc.pid)
        batch = [deliver(args.batch_size).latency_ms() for _ in range(args.batches)]
        cpu_batch = cpu_seconds(proc.pid) - cpu_before
        peak_kib = proc_status(proc.pid, "VmHWM")
    finally:
        if proc is not None:
            procs.stop(proc)
        runtime.close()
    return {"single": single, "batch": batch, "peak_kib": peak_kib,
            "cpu_ms_per_event": cpu_batch * 1000 / (args.batches * args.batch_size)}


def cpu_ms_of_threads(pid: int) -> float:
    """Time on CPU of every thread of the process so far, in ms (schedstat counts in ns,
    where /proc/<pid>/stat counts in ticks of 10 ms: too coarse for an init)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total / 1e6


def union_ms(intervals: list[tuple[float, float]]) -> float:
    """The time (ms) during which at least one of the intervals (seconds) was open."""
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total * 1000


def measure_init(name: str, binary: Path, procs: Processes, template_env: dict[str, str],
                 endpoint: str) -> dict:
    """One fresh start: ms from spawning the process to its first `GET .../next`, its peak
    RSS (KiB) and CPU time at that moment, and, for a function that calls AWS, the time
    it waited for AWS: its calls go through a counting proxy in front of moto, and `io_ms`
    is the time during which at least one of them was open at the proxy (from the request's
    arrival to the answer's last byte), so init − io is the function's own work."""
    runtime = FakeRuntimeAPI(name)
    proxy = CountingProxy(int(endpoint.rsplit(":", 1)[1]), classify_aws) if name != BASELINE else None
    proc = None
    try:
        env = function_env(name, template_env, proxy.url if proxy else endpoint, runtime.address)
        started = time.perf_counter()
        proc = procs.start(name, [str(binary)], env)
        if not runtime.first_poll.wait(timeout=INIT_TIMEOUT):
            raise SystemExit(f"{name} did not poll for an event within {INIT_TIMEOUT:.0f}s; "
                             f"see {STATE / 'logs' / name}.log")
        first_poll = runtime.first_poll_at
        sample = {"ms": (first_poll - started) * 1000, "kib": proc_status(proc.pid, "VmHWM"),
                  "cpu_ms": cpu_ms_of_threads(proc.pid), "io_ms": 0.0, "calls": 0}
        if proxy is not None:
            calls = [c for c in proxy.take() if c["received"] < first_poll]
            deadline = time.monotonic() + 1.0  # a proxy thread may not have stamped its answer yet
            while any(c["answered"] is None for c in calls) and time.monotonic() < deadline:
                time.sleep(0.001)
            # A call still open at the first poll counts only until then.
            sample["io_ms"] = union_ms([(c["received"], min(c["answered"] or first_poll, first_poll))
                                        for c in calls])
            sample["calls"] = len(calls)
            sample["ops"] = sorted(c["op"] for c in calls)
    finally:
        if proc is not None:
            procs.stop(proc)
        runtime.close()
        if proxy is not None:
            proxy.close()
    return sample


# ---------------------------------------------------------------------------------------
# Provisioning actions: the actions function against okta-sim, its Okta calls and table
# calls per action type, and a 100-action request against Okta's rate limits.

ACTIONS = "actions"
OKTA_SIM_NAME = "okta-sim"
DEMO_ORG = ROOT / "tests" / "okta-sim" / "demo-org.json"
SIM_TOKEN = "00sim-demo-ssws-token-TEST-ONLY"
ACTIONS_TABLE = "okta-lifecycle-bench-actions"
ACTIONS_AUDIT_TABLE = "okta-lifecycle-bench-actions-audit"
ACTIONS_CALLER = "arn:aws:iam::000000000000:user/bench"
# The function's defaults, restated here only to compute the bound (not passed to it).
ACTIONS_BUDGET_S = 25.0
RESERVE = 0.20
# Okta's published per-minute limits, Enterprise org (/work/shared/okta-actions.md §9,
# /work/shared/perf-anchors.md §2.2), set on the simulator's families for the 100-action
# request. The simulator keeps one bucket per family, so `users` takes the tightest bucket
# its calls fall in: "Create or list users" (GET/POST /api/v1/users), 600/min.
ENTERPRISE_LIMITS = {"users": 600, "groups": 600, "sessions": 600, "logs": 50,
                     "eventHooks": 100, "token": 600, "concurrency": 75}
# Okta's own buckets (Enterprise) for the per-endpoint view of the bound.
OKTA_BUCKETS = (
    ("Get a user by id or login: GET /api/v1/users/{idOrLogin}", 1000,
     lambda m, p: m == "GET" and p.startswith("/api/v1/users/") and p.count("/") == 4),
    ("Create or list users: GET/POST /api/v1/users", 600,
     lambda m, p: p == "/api/v1/users"),
    ("Update or delete a user by id: POST/PUT/DELETE /api/v1/users/{id}", 600,
     lambda m, p: m != "GET" and p.startswith("/api/v1/users/") and p.count("/") == 4),
    ("Lifecycle, sessions and other /api/v1/users/{id}/…: bucket UNCONFIRMED, 'most other' 600", 600,
     lambda m, p: p.startswith("/api/v1/users/") and p.count("/") > 4),
    ("Create or list groups: /api/v1/groups", 600, lambda m, p: p == "/api/v1/groups"),
    ("Group by id and memberships: /api/v1/groups/{id}…", 600, lambda m, p: p.startswith("/api/v1/groups/")),
)
LEAVER_TYPES = ("DEPROVISION_IDENTITY", "RESTORE_IDENTITY")
BIG_REQUEST_WAIT = 300.0  # longest the 100-action request may take, follow-ups included
FOLLOW_UP_EVERY = 1.0  # a repeat of the key (the caller carrying on) this often


class CountingProxy:
    """A logging reverse proxy on a kernel-chosen port: forwards every request unchanged to
    `upstream` and records what it was (DynamoDB/Secrets Manager: the X-Amz-Target
    operation, and for a TransactWriteItems its items; Okta: method and path), its status
    and how long the upstream took. It counts; it changes nothing."""

    def __init__(self, upstream_port: int, classify):
        self.upstream_port = upstream_port
        self.classify = classify
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.server = RuntimeServer((HOST, 0), ProxyHandler)
        self.server.proxy = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}"

    def take(self) -> list[dict]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te",
              "trailer", "upgrade"}


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    upstream = None

    def log_message(self, fmt, *args):
        pass

    def _forward(self):
        import http.client
        received = time.perf_counter()
        proxy: CountingProxy = self.server.proxy
        body = RuntimeHandler._read_body(self)
        if self.upstream is None:
            self.upstream = http.client.HTTPConnection(HOST, proxy.upstream_port, timeout=INVOKE_TIMEOUT)
        started = time.perf_counter()
        self.upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                self.upstream.putheader(name, value)
        self.upstream.putheader("Content-Length", str(len(body)))
        self.upstream.endheaders(body)
        answer = self.upstream.getresponse()
        data = answer.read()
        upstream_ms = (time.perf_counter() - started) * 1000
        if answer.will_close:
            self.upstream.close()
            self.upstream = None
        # `answered` is set as the answer's body is written: a call is recorded before, so
        # that a caller who has its answer finds it in `take()`.
        call = {"at": started, "ms": upstream_ms, "status": answer.status,
                "wall": time.time(), "reset": answer.getheader("X-Rate-Limit-Reset"),
                "received": received, "answered": None}
        call.update(proxy.classify(self.command, self.path, self.headers, body))
        with proxy.lock:
            proxy.calls.append(call)
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        call["answered"] = time.perf_counter()
        if self.command != "HEAD":
            self.wfile.write(data)

    _read_chunked = RuntimeHandler._read_chunked
    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward


def key_kind(key: dict) -> str:
    """`USER#00u1…` / `JOB#2026…#…` → `USER/JOB`: what kind of item a write touches."""
    part = lambda name: ((key.get(name) or {}).get("S") or "").split("#", 1)[0]
    return f"{part('pk')}/{part('sk')}"


def classify_aws(method: str, path: str, headers, body: bytes) -> dict:
    """The AWS JSON protocol names the operation in X-Amz-Target; a transaction's items are
    in its body. `items` counts what a write writes (a ConditionCheck writes nothing)."""
    target = headers.get("X-Amz-Target") or ""
    op = target.rsplit(".", 1)[-1] or f"{method} {path}"
    call = {"op": op, "items": 0, "kinds": ""}
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        call["items"] = 1
        try:
            doc = json.loads(body)
            call["kinds"] = key_kind(doc.get("Item") or doc.get("Key") or {})
        except ValueError:
            pass
    elif op == "TransactWriteItems":
        try:
            items = json.loads(body).get("TransactItems", [])
        except ValueError:
            items = []
        kinds = []
        for item in items:
            kind, spec = next(iter(item.items()))
            kinds.append(f"{kind} {key_kind(spec.get('Item') or spec.get('Key') or {})}")
            if kind != "ConditionCheck":
                call["items"] += 1
        call["kinds"] = ", ".join(kinds)
        call["transaction_size"] = len(items)
    elif op == "BatchWriteItem":
        try:
            call["items"] = sum(len(v) for v in json.loads(body).get("RequestItems", {}).values())
        except ValueError:
            pass
    return call


def okta_template(path: str) -> str:
    """`/api/v1/users/00u1ab/lifecycle/activate?sendEmail=false` →
    `/api/v1/users/{id}/lifecycle/activate?sendEmail`: ids and logins become {id}, query
    values are dropped."""
    base, _, query = path.partition("?")
    parts = base.strip("/").split("/")
    out = [seg if i <= 2 or seg.replace("_", "").isalpha() and seg.islower() or seg in ("eventHooks",)
           else "{id}" for i, seg in enumerate(parts)]
    names = sorted({kv.split("=", 1)[0] for kv in query.split("&") if kv})
    return "/" + "/".join(out) + ("?" + "&".join(names) if names else "")


def classify_okta(method: str, path: str, headers, body: bytes) -> dict:
    return {"op": f"{method} {okta_template(path)}", "method": method, "path": path.partition("?")[0]}


def sim_get(base: str, path: str) -> dict:
    import urllib.request
    with urllib.request.urlopen(f"{base}{path}", timeout=10) as answer:
        return json.loads(answer.read())


def sim_post(base: str, path: str, body: dict) -> dict:
    import urllib.request
    req = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        text = answer.read()
        return json.loads(text) if text else {}


def okta_window_end(base: str, login: str) -> float:
    """When okta-sim's current `users` window ends (epoch seconds), from one GET."""
    import urllib.request
    req = urllib.request.Request(f"{base}/api/v1/users/{login}", headers={"Authorization": f"SSWS {SIM_TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        return float(answer.headers["X-Rate-Limit-Reset"])


def start_okta_sim(procs: Processes, org_url: str) -> tuple[subprocess.Popen, str]:
    """okta-sim on a port it picks; `org_url` goes into its links (the counting proxy, so a
    `next` link leads through it too). Returns the process and the sim's own address."""
    binary = TARGET / "release" / OKTA_SIM_NAME
    log_path = STATE / "logs" / f"{OKTA_SIM_NAME}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as err:
        proc = subprocess.Popen([str(binary), "--listen", f"{HOST}:0", "--seed-file", str(DEMO_ORG),
                                 "--seed", "1", "--org-url", org_url],
                                cwd=ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    procs.running.append(proc)
    first: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: first.put(proc.stdout.readline().decode()), daemon=True).start()
    try:
        line = first.get(timeout=PORT_TIMEOUT)
    except queue.Empty:
        raise SystemExit(f"okta-sim printed no address within {PORT_TIMEOUT:.0f}s")
    if not line.startswith("listening on "):
        raise SystemExit(f"okta-sim: unexpected first line {line!r}; see {log_path}")
    # The rest of its stdout is drained, so a full pipe never blocks it.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, "http://" + line.split("listening on ", 1)[1].strip()


def actions_event(method: str, path: str, body: bytes | None) -> bytes:
    """An HTTP API payload 2.0 event for the actions routes, IAM-authorized."""
    now = time.time()
    route = "POST /actions" if method == "POST" else "GET /actions/{request_id}"
    headers = {"content-type": "application/json", "host": "localhost", "user-agent": "bench"}
    if body is not None:
        headers["content-length"] = str(len(body))
    event = {
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "localhost",
            "domainPrefix": "localhost",
            "authorizer": {"iam": {"userArn": ACTIONS_CALLER, "accountId": "000000000000",
                                   "callerId": "AIDABENCH", "accessKey": "AKIDBENCH",
                                   "userId": "AIDABENCH"}},
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": HOST, "userAgent": "bench"},
            "requestId": uuid.uuid4().hex[:16], "routeKey": route, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body.decode()
    return json.dumps(event).encode()


def provision_actions(endpoint: str) -> str:
    """The actions function's own tables (the template's schemas, integration enabled) and
    its Okta credentials secret; returns the secret's ARN."""
    ddb, sm = boto("dynamodb", endpoint), boto("secretsmanager", endpoint)
    template = Template(ROOT / "infra" / "template.yaml")
    ddb.create_table(**template.create_table_args(ACTIONS_TABLE))
    ddb.get_waiter("table_exists").wait(TableName=ACTIONS_TABLE)
    ddb.create_table(**template.create_table_args(ACTIONS_AUDIT_TABLE, Template.AUDIT_TABLE))
    ddb.get_waiter("table_exists").wait(TableName=ACTIONS_AUDIT_TABLE)
    ddb.put_item(TableName=ACTIONS_TABLE, Item={
        "pk": {"S": "CONFIG"}, "sk": {"S": "INTEGRATION"}, "enabled": {"BOOL": True}})
    return sm.create_secret(Name="okta-lifecycle/bench/okta-credentials",
                            SecretString=json.dumps({"ssws_token": SIM_TOKEN}))["ARN"]


def counters_delta(before: dict, after: dict) -> dict[str, int]:
    b, a = before.get("requests", {}), after.get("requests", {})
    return {k: a.get(k, 0) - b.get(k, 0) for k in a if a.get(k, 0) - b.get(k, 0)}


class ActionsHarness:
    """One actions process under the fake Runtime API, its table calls through one counting
    proxy in front of moto and its Okta calls through another in front of okta-sim."""

    def __init__(self, procs: Processes, endpoint: str):
        self.procs = procs
        moto_port = int(endpoint.rsplit(":", 1)[1])
        self.aws = CountingProxy(moto_port, classify_aws)
        self.okta_proxy = None
        self.sim = None
        self.proc = None
        self.runtime = None
        self.secret = provision_actions(endpoint)
        self.endpoint = endpoint

    def start(self) -> list[dict]:
        # The Okta proxy's port must be known before the sim starts (its links name it);
        # its upstream port is filled in once the sim has printed its own.
        self.okta_proxy = CountingProxy(0, classify_okta)
        self.sim, self.sim_url = start_okta_sim(self.procs, self.okta_proxy.url)
        self.okta_proxy.upstream_port = int(self.sim_url.rsplit(":", 1)[1])
        self.runtime = FakeRuntimeAPI(ACTIONS)
        env = function_env(ACTIONS, {"TABLE_NAME": ACTIONS_TABLE, "AUDIT_TABLE_NAME": ACTIONS_AUDIT_TABLE,
                                     "OKTA_ORG_URL": self.okta_proxy.url,
                                     "OKTA_CREDENTIALS_SECRET_ID": self.secret},
                           self.aws.url, self.runtime.address)
        self.proc = self.procs.start(ACTIONS, [str(TARGET / "release" / ACTIONS)], env)
        if not self.runtime.first_poll.wait(timeout=INIT_TIMEOUT):
            raise SystemExit(f"{ACTIONS} did not poll for an event within {INIT_TIMEOUT:.0f}s; "
                             f"see {STATE / 'logs' / ACTIONS}.log")
        self.okta_proxy.take()
        return self.aws.take()  # init's calls

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[Invocation, dict, dict]:
        raw = json.dumps(body).encode() if body is not None else None
        inv = self.runtime.invoke(actions_event(method, path, raw), self.proc)
        if inv.outcome != "response":
            raise SystemExit(f"{ACTIONS} reported an invocation error: {inv.answer[:300]!r}")
        answer = json.loads(inv.answer)
        return inv, answer, json.loads(answer.get("body") or "{}")

    def measured(self, actions: list[dict], expect: str) -> dict:
        """One single-action request; Okta and table calls and latency."""
        before = sim_get(self.sim_url, "/_sim/counters")
        self.aws.take()
        self.okta_proxy.take()
        inv, answer, body = self.call("POST", "/actions",
                                      {"idempotency_key": f"bench-{uuid.uuid4()}", "actions": actions})
        table, okta = self.aws.take(), self.okta_proxy.take()
        after = sim_get(self.sim_url, "/_sim/counters")
        outcome = (body.get("results") or [{}])[0].get("outcome")
        if outcome != expect:
            raise SystemExit(f"{actions[0]['type']}: expected outcome {expect!r}, got "
                             f"{answer.get('statusCode')} {inv.answer[:400]!r}")
        return {"latency_ms": inv.latency_ms(), "table": table, "okta": okta,
                "families": counters_delta(before, after), "status": answer.get("statusCode"),
                "handed_out": inv.handed_out, "answered": inv.answered}

    def stop(self) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)
        if self.sim is not None:
            self.procs.stop(self.sim)
        for part in (self.runtime, self.aws, self.okta_proxy):
            if part is not None:
                part.close()


def summarize_table(calls: list[dict]) -> dict:
    ops: dict[str, int] = {}
    items = 0
    transactions = []
    for c in calls:
        ops[c["op"]] = ops.get(c["op"], 0) + 1
        items += c.get("items", 0)
        if c["op"] == "TransactWriteItems":
            transactions.append(c.get("transaction_size", 0))
    writes = sum(n for op, n in ops.items()
                 if op in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"))
    return {"ops": ops, "items": items, "writes": writes, "transactions": transactions,
            "ms": sum(c["ms"] for c in calls),
            "failed": sum(1 for c in calls if c["status"] >= 400)}


def run_actions(procs: Processes, endpoint: str, args) -> dict:
    """Every action type, one action per request, `args.action_samples` times each (leaver
    types `args.leaver_samples` times: each waits for its job until near the budget),
    then the 100-action request under Okta's Enterprise limits."""
    demo = json.loads(DEMO_ORG.read_text())
    demo_logins = [u["profile"]["login"] for u in demo["users"]]
    harness = ActionsHarness(procs, endpoint)
    result: dict = {"types": {}}
    try:
        result["init_calls"] = summarize_table(harness.start())
        tag = uuid.uuid4().hex[:6]
        n = args.action_samples
        fresh = [f"bench.{tag}.{i}@example.com" for i in range(n)]

        def person(login: str, **extra) -> dict:
            return {"type": "SYNC_IDENTITIES", "login": login, "email": login,
                    "first_name": "Bench", "last_name": "User", **extra}

        # Demo users, ACTIVE with a password: resets, then deprovision → restore.
        resets, leavers = demo_logins[:n], demo_logins[n:n + args.leaver_samples]
        plan = [
            ("SYNC_IDENTITIES create", "created", [[person(lg)] for lg in fresh]),
            ("SYNC_IDENTITIES update (1 attribute)", "updated",
             [[person(lg, last_name=f"Changed{i}")] for i, lg in enumerate(fresh[:n])]),
            ("SYNC_IDENTITIES unchanged", "unchanged",
             [[person(lg, last_name=f"Changed{i}")] for i, lg in enumerate(fresh[:n])]),
            ("MANAGE_RELATIONSHIPS add 2 groups (by name)", "added",
             [[{"type": "MANAGE_RELATIONSHIPS", "user": lg, "add": ["Sales", "Finance"]}] for lg in fresh[:n]]),
            ("CREATE_ENTITLEMENT new group", "created",
             [[{"type": "CREATE_ENTITLEMENT", "name": f"bench-{tag}-{i}"}] for i in range(n)]),
            ("CREATE_ENTITLEMENT existing group", "already",
             [[{"type": "CREATE_ENTITLEMENT", "name": f"bench-{tag}-{i}"}] for i in range(n)]),
            ("RESET_PASSWORD (temporary password)", "reset",
             [[{"type": "RESET_PASSWORD", "user": lg}] for lg in resets]),
            ("DEPROVISION_IDENTITY (deactivate) †", "pending",
             [[{"type": "DEPROVISION_IDENTITY", "user": lg}] for lg in leavers]),
            ("RESTORE_IDENTITY †", "pending",
             [[{"type": "RESTORE_IDENTITY", "user": lg}] for lg in leavers]),
        ]
        for label, expect, requests in plan:
            runs = [harness.measured(a, expect) for a in requests]
            log(f"actions: {label}: {len(runs)} requests")
            result["types"][label] = runs

        # The 100-action request.
        sim_post(harness.sim_url, "/_sim/rate-limits", ENTERPRISE_LIMITS)
        limits_set = time.perf_counter()
        # okta-sim's windows are fixed wall-clock minutes (X-Rate-Limit-Reset names the next
        # one, also right after the limits were set): the request starts just after a
        # window begins, so it meets a full window and then waits a whole one, the worst
        # case of a burst and the same on every run.
        reset = okta_window_end(harness.sim_url, demo_logins[-1])
        time.sleep(max(0.0, reset - time.time()) + 0.3)
        big = [person(f"bench.big.{tag}.{i}@example.com") for i in range(args.big_request)]
        body = {"idempotency_key": f"bench-big-{tag}", "actions": big}
        before = sim_get(harness.sim_url, "/_sim/counters")
        harness.aws.take()
        harness.okta_proxy.take()
        started = time.perf_counter()
        started_wall = time.time()
        requests = []
        while True:
            inv, answer, doc = harness.call("POST", "/actions", body)
            done = sum(1 for r in doc.get("results", []) if r.get("outcome") not in ("pending", None))
            failed = [r for r in doc.get("results", []) if r.get("outcome") == "failed"]
            if failed:
                raise SystemExit(f"100-action request: {len(failed)} failed, e.g. {failed[0]}")
            requests.append({"latency_ms": inv.latency_ms(), "status": answer.get("statusCode"),
                             "done": done, "at": inv.answered - started})
            if doc.get("status") == "done":
                break
            if time.perf_counter() - started > BIG_REQUEST_WAIT:
                raise SystemExit(f"100-action request not done after {BIG_REQUEST_WAIT:.0f}s: {done} done")
            time.sleep(FOLLOW_UP_EVERY)
        total = time.perf_counter() - started
        after = sim_get(harness.sim_url, "/_sim/counters")
        result["big"] = {"requests": requests, "total_s": total, "families": counters_delta(before, after),
                         "okta": harness.okta_proxy.take(), "table": summarize_table(harness.aws.take()),
                         "since_limits_s": started - limits_set, "rate_limited": after.get("rateLimited"),
                         "started_wall": started_wall}
        result["peak_kib"] = proc_status(harness.proc.pid, "VmHWM")
    finally:
        harness.stop()
    return result


def count_by(calls: list[dict], key: str = "op") -> dict[str, int]:
    out: dict[str, int] = {}
    for c in calls:
        out[c[key]] = out.get(c[key], 0) + 1
    return out


def avg_counts(runs: list[dict]) -> dict[str, float]:
    keys = {k for r in runs for k in r}
    return {k: sum(r.get(k, 0) for r in runs) / len(runs) for k in sorted(keys)}


def fmt_count(v: float) -> str:
    return f"{v:g}" if v == int(v) else f"{v:.1f}"


def actions_report(res: dict, args) -> list[str]:
    lines = ["", "## 5. Provisioning actions (`actions` under the fake Runtime API, okta-sim, its own moto table)", "",
             "One action per `POST /actions` request (payload 2.0, IAM authorizer context), each subject "
             "fresh (new logins, new group names, a different demo user per reset and leaver). "
             "Okta calls per family are the delta of okta-sim's `/_sim/counters` `requests`; the endpoints "
             "and the table calls are counted by two logging proxies in tools/bench.py (function → proxy → "
             "okta-sim / moto). Figures are per action, averaged over the requests (they did not vary).", "",
             "Every request also costs, once: GetItem of the integration config, PutItem of the request "
             "record (conditional: the idempotency record), and a final 1-item TransactWriteItems that marks "
             "it done; each answered action adds one 2-item TransactWriteItems (its answer on the request "
             "record + its audit line). A table write is any PutItem, UpdateItem, DeleteItem, BatchWriteItem or "
             "TransactWriteItems; items written counts the Put/Update/Delete items in them (DynamoDB bills "
             "transactional items at 2× write units). Latency is the Runtime API round trip and includes the "
             "proxies' hops; \"of which table\" is the sum of moto's answer times as the proxy saw them.", "",
             "| action | n | Okta calls by family | Okta endpoints | table calls by operation | items written "
             "(transactions: items each) | p50 ms | max ms | of which table, ms |",
             "|---|--:|---|---|---|--:|--:|--:|--:|"]
    for label, runs in res["types"].items():
        fam = avg_counts([r["families"] for r in runs])
        ends = avg_counts([count_by(r["okta"]) for r in runs])
        tables = [summarize_table(r["table"]) for r in runs]
        ops = avg_counts([t["ops"] for t in tables])
        items = statistics.mean(t["items"] for t in tables)
        tx = sorted({s for t in tables for s in t["transactions"]})
        lat = [r["latency_ms"] for r in runs]
        fam_text = ", ".join(f"{k} {fmt_count(v)}" for k, v in fam.items()) or "none"
        fam_text += f" (= {fmt_count(sum(fam.values()))})"
        ends_text = "<br>".join(f"{fmt_count(v)}× `{k}`" for k, v in ends.items()) or "—"
        ops_text = ", ".join(f"{k} {fmt_count(v)}" for k, v in ops.items())
        tx_text = f" ({'/'.join(str(s) for s in tx)} each)" if tx else ""
        lines.append(f"| {label} | {len(runs)} | {fam_text} | {ends_text} | {ops_text} | "
                     f"{fmt_count(items)}{tx_text} | {fmt_ms(percentile(lat, 0.5))} | {fmt_ms(max(lat))} | "
                     f"{fmt_ms(statistics.mean(t['ms'] for t in tables))} |")
    # The leaver types: what happened before the job took over, and the follow-up polls.
    lines += ["", "† hands the rest to a job of the leaver path (the deprovision function's, not run here): "
              "the rows count only the action's own calls up to the answer, and the answer is `pending` "
              "because nothing runs the job. Of those, the calls up to the hand-off (the write that creates "
              "the job) and the job polls after it:", "",
              "| action | hand-off after ms | calls up to it (table) | then GetItem polls of the job | answer after ms |",
              "|---|--:|---|--:|--:|"]
    for label, runs in res["types"].items():
        if "†" not in label:
            continue
        for r in runs[:1]:
            handoff = None
            for c in r["table"]:
                if c["items"] and "/JOB" in c.get("kinds", ""):
                    handoff = c
            if handoff is None:
                lines.append(f"| {label} | ? | no job write seen | | {fmt_ms(r['latency_ms'])} |")
                continue
            before = [c for c in r["table"] if c["at"] <= handoff["at"]]
            polls = [c for c in r["table"] if c["at"] > handoff["at"] and c["op"] == "GetItem"]
            ms = (handoff["at"] + handoff["ms"] / 1000 - r["handed_out"]) * 1000
            lines.append(f"| {label} | {fmt_ms(ms)} | "
                         + ", ".join(f"{k} {v}" for k, v in count_by(before).items())
                         + f" | {len(polls)} | {fmt_ms(r['latency_ms'])} |")
    # What the transactions and single writes touch.
    lines += ["", "What each write touches (item kind = the partition key's prefix), first request of each type:", "",
              "| action | writes |", "|---|---|"]
    for label, runs in res["types"].items():
        writes = [c for c in runs[0]["table"] if c["items"]]
        lines.append(f"| {label} | " + "; ".join(
            f"{c['op']}" + (f" [{c['kinds']}]" if c.get("kinds") else "") + (" (condition failed)" if c["status"] >= 400 else "")
            for c in writes) + " |")
    init = res["init_calls"]
    lines += ["", "Init (before the first poll): " + ", ".join(f"{k} {v}" for k, v in init["ops"].items())
              + " (through the proxy; the Okta secret is read once per process)."]

    big = res["big"]
    n = args.big_request
    reqs = big["requests"]
    first = reqs[0]
    fams = big["families"]
    lines += ["", f"### A {n}-action request ({n} × SYNC_IDENTITIES create, unique logins) against Okta's rate limits", "",
              "okta-sim's limits set to an **Enterprise** org's published per-minute figures ("
              + ", ".join(f"{k} {v}" for k, v in ENTERPRISE_LIMITS.items())
              + "). okta-sim's windows are fixed wall-clock minutes (setting the limits did not move them: "
              "X-Rate-Limit-Reset named the next minute), so the request was started 0.3 s into a fresh "
              f"window ({big['since_limits_s']:.1f} s after the limits were set): a full window first, then a "
              "whole window's wait, the slowest start for a burst and the same on every run. "
              f"The function keeps its default {RESERVE:.0%} reserve and {ACTIONS_BUDGET_S:g} s budget; "
              f"a repeat of the key every {FOLLOW_UP_EVERY:g} s carries on until the request is done "
              "(as a caller would; the worker is not run here).", "",
              "| measure | value |", "|---|--:|",
              f"| first request: answer after | {first['latency_ms'] / 1000:.1f} s (HTTP {first['status']}) |",
              f"| actions finished within the first request ({ACTIONS_BUDGET_S:g} s budget) | {first['done']} of {n} |",
              f"| left pending by it | {n - first['done']} |",
              f"| follow-up requests with the same key | {len(reqs) - 1} |",
              f"| all {n} done after (first request's start → last answer) | **{big['total_s']:.1f} s** |",
              f"| Okta calls by family | " + ", ".join(f"{k} {v}" for k, v in fams.items()) + " |",
              f"| Okta 429s (`rateLimited`, cumulative) | {big['rate_limited']} |",
              f"| table calls (all requests) | " + ", ".join(f"{k} {v}" for k, v in big['table']['ops'].items())
              + f"; {big['table']['items']} items written |",
              ]
    progress = [r for r in reqs if r["done"]]
    marks = []
    last = -1
    for r in reqs:
        if r["done"] != last:
            marks.append(f"{r['done']} at {r['at']:.1f} s")
            last = r["done"]
    lines.append(f"| done so far, at each change | {'; '.join(marks)} |")
    resets = sorted({int(c["reset"]) for c in big["okta"] if (c.get("reset") or "").isdigit()})
    if resets:
        lines.append("| okta-sim's rate-limit windows (X-Rate-Limit-Reset) ended at | "
                     + ", ".join(f"{r - big['started_wall']:.1f} s" for r in resets) + " after the start |")
    single = res["types"].get("SYNC_IDENTITIES create")
    if single:
        per = avg_counts([r["families"] for r in single])
        extra = {k: v - per.get(k, 0) * n for k, v in fams.items() if v - per.get(k, 0) * n}
        lines.append(f"| Okta calls beyond {n} × a single create's | "
                     + (", ".join(f"{k} {fmt_count(v)}" for k, v in extra.items()) or "none")
                     + " (an action the reserve stopped part-way starts over on the next run) |")

    lines += ["", "The bound: for each rate-limit bucket, calls needed ÷ (limit × (1 − reserve)) per minute; "
              "the largest is the bound.", "",
              "| bucket (as okta-sim enforces it: one per family) | calls | limit/min | usable/min | minutes | bound s |",
              "|---|--:|--:|--:|--:|--:|"]
    bounds = {}
    for fam, calls in fams.items():
        limit = ENTERPRISE_LIMITS.get(fam)
        if not limit:
            continue
        usable = limit * (1 - RESERVE)
        bounds[fam] = calls / usable * 60
        lines.append(f"| {fam} | {calls} | {limit} | {usable:g} | {calls / usable:.3f} | {bounds[fam]:.1f} |")
    bound = max(bounds.values()) if bounds else float("nan")
    lines += ["", f"**Measured / bound = {big['total_s']:.1f} s / {bound:.1f} s = {big['total_s'] / bound:.2f}.** "
              "The bound is a sustained rate; okta-sim's windows are fixed minutes, so a burst that starts "
              "with a full window spends its usable share at once and then waits for the window's end; "
              "started later in a minute it would finish sooner still (a trial run that started 38 s into "
              "one took 23.5 s).", ""]
    # Okta's own buckets, for a real Enterprise org.
    rows = []
    okta_bounds = []
    for name, limit, match in OKTA_BUCKETS:
        calls = sum(1 for c in big["okta"] if match(c["method"], c["path"]))
        if calls:
            usable = limit * (1 - RESERVE)
            okta_bounds.append(calls / usable * 60)
            rows.append(f"| {name} | {calls} | {limit} | {usable:g} | {calls / usable * 60:.1f} |")
    if rows:
        lines += ["okta-sim pools every `/api/v1/users…` call in one bucket; a real Enterprise org splits them "
                  "by endpoint, so there the same calls would have this bound:", "",
                  "| Okta bucket (Enterprise) | calls | limit/min | usable/min | bound s |", "|---|--:|--:|--:|--:|"]
        lines += rows
        lines += ["", f"Bound with Okta's own buckets: **{max(okta_bounds):.1f} s** (the sim's pooled bucket is "
                  f"stricter: {bound:.1f} s).", ""]
    lines += [f"Peak RSS of the actions process after all of this: {mib(res['peak_kib'])}.", ""]
    return lines


# ---------------------------------------------------------------------------------------
# Builds.


def run_build(argv: list[str]) -> None:
    log("$ " + " ".join(argv))
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    result = subprocess.run(argv, cwd=ROOT, env=env, timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SystemExit(f"build failed ({result.returncode}): {' '.join(argv)}")


def build(args) -> None:
    run_build(["cargo", "build", "--release", "-p", "hook-intake", "-p", "hook-verify",
               *(a for name in SIZED_ONLY for a in ("-p", name)), "-p", BASELINE])
    # Separate builds, so their dependencies' features never change the hook binaries.
    run_build(["cargo", "build", "--release", *(a for name in ACTIONS_BINARIES for a in ("-p", name))])
    if args.actions:
        run_build(["cargo", "build", "--release", "-p", OKTA_SIM_NAME])
    run_build([str(VENV_BIN / "cargo-lambda"), "lambda", "build", "--release", "--arm64",
               *(a for name in ACTIONS_BINARIES for a in ("--bin", name))])
    if args.hello_arm64:
        # Alone, so the hook binaries `make release` built are neither rebuilt nor replaced.
        run_build([str(VENV_BIN / "cargo-lambda"), "lambda", "build", "--release", "--arm64",
                   "--bin", BASELINE])


# ---------------------------------------------------------------------------------------
# The report.


def machine_facts() -> list[str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return [f"- date: {now}",
            f"- nproc: {os.cpu_count()}",
            f"- CPU: {model}",
            f"- kernel: {platform.release()}; Python {platform.python_version()}",
            "- load average (1, 5, 15 min) when the report was written: "
            + ", ".join(f"{v:.2f}" for v in os.getloadavg())]


def yes_no(ok: bool) -> str:
    return "**yes**" if ok else "**no**"


def fmt_ms(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def report(args, motos: tuple[dict[str, float], dict[str, float]], runs: dict[str, dict], inits: dict[str, list[dict]],
           sizes: dict[str, tuple[int | None, int | None]]) -> str:
    intake, hello = runs["hook-intake"], runs[BASELINE]
    n = args.batch_size
    lines = ["# okta-lifecycle bench", ""] + machine_facts() + [
        "- stack: moto (tools/moto_server.py) on 127.0.0.1, x86_64 release binaries under "
        "tools/bench.py's fake Lambda Runtime API, one invocation at a time",
        "",
        "## 1. Delivery latency (Runtime API round trip: event handed out → answer received)",
        "",
        "| function | delivery | N | p50 ms | p99 ms | max ms |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for name, run in (("hook-intake", intake), (f"{BASELINE} (harness floor)", hello)):
        for label, values in (("1 event", run["single"]), (f"{n} events", run["batch"])):
            lines.append(f"| {name} | {label} | {len(values)} | {fmt_ms(percentile(values, 0.5))} | "
                         f"{fmt_ms(percentile(values, 0.99))} | {fmt_ms(max(values))} |")

    before, after = motos
    lines += ["", "p99 is nearest-rank: with 50 samples it is the maximum.",
              "", f"moto's own latency, through boto3 (median of {args.moto_samples}, before and after the "
              "latency runs; includes boto3's Python overhead of about a millisecond per call):", "",
              "| call | before, ms | after, ms |", "|---|--:|--:|"]
    lines += [f"| {name} | {fmt_ms(before[name])} | {fmt_ms(after[name])} |" for name in before]

    # A delivery reads the config item, then writes one conditional PutItem per event
    # (several in flight, but moto answers one request at a time, so its share is the sum;
    # last_delivery_at is updated alongside).
    moto_share = [(m["GetItem CONFIG (every delivery)"] + n * m["PutItem job, conditional (1 event)"]) / n
                  for m in motos]
    per_event = percentile(intake["batch"], 0.5) / n
    cpu = intake["cpu_ms_per_event"]
    lines += [
        "", "### Handler time per event", "",
        f"| measure | ms per event | target < {TARGET_HANDLER_MS_PER_EVENT:g} ms | met |", "|---|--:|---|---|",
        f"| p50 of the {n}-event delivery / {n} (moto included) | {per_event:.3f} | | "
        f"{yes_no(per_event < TARGET_HANDLER_MS_PER_EVENT)} |",
        f"| of which moto, by boto3 (GetItem + {n}× conditional PutItem) / {n}, before / after | "
        f"{moto_share[0]:.3f} / {moto_share[1]:.3f} | | — |",
        f"| hook-intake CPU time (user + system) per event over the {n}-event run | {cpu:.3f} | | "
        f"{yes_no(cpu < TARGET_HANDLER_MS_PER_EVENT)} |",
        "",
        "The latency figure is almost all moto's; subtracting moto's boto3 timings from it leaves a "
        "difference of two large, noisy numbers, so the handler's own work is read from its CPU time "
        "instead (JSON parsing, SDK serialisation and signing, logging; it excludes waiting for moto).",
    ]

    def median(name: str, key) -> float:
        return statistics.median(key(sample) for sample in inits[name])

    hello_init = median(BASELINE, lambda x: x["ms"])
    lines += ["", f"## 2. Init time (process start → first `GET /invocation/next`, median of {args.starts} fresh starts)",
              "", "The hook functions' init reads the secret and the config item (the deliberate warm-up), "
              "through a counting proxy in front of moto: *waiting for AWS* is the time during which at least "
              "one of those calls was open at the proxy, and *own work* is each start's init less that. The "
              f"goal compares own work with {BASELINE}'s init. CPU is the time every thread spent on a CPU "
              "until the first poll (schedstat).", "",
              f"| function | init, median (min–max) ms | AWS calls | waiting for AWS, ms | own work, ms | "
              f"× {BASELINE} | target ≤ {TARGET_INIT_RATIO:g}× | CPU ms | peak RSS at first poll |",
              "|---|--:|--:|--:|--:|--:|---|--:|--:|"]
    for name, samples in inits.items():
        values = [x["ms"] for x in samples]
        own = median(name, lambda x: x["ms"] - x["io_ms"])
        ratio = own / hello_init
        met = "(baseline)" if name == BASELINE else yes_no(ratio <= TARGET_INIT_RATIO)
        lines.append(f"| {name} | {fmt_ms(statistics.median(values))} ({fmt_ms(min(values))}–{fmt_ms(max(values))}) | "
                     f"{median(name, lambda x: x['calls']):g} | {fmt_ms(median(name, lambda x: x['io_ms']))} | "
                     f"{fmt_ms(own)} | {ratio:.1f}× | {met} | {fmt_ms(median(name, lambda x: x['cpu_ms']))} | "
                     f"{mib(max(x['kib'] for x in samples))} |")
    lines.append("")

    lines += ["", "## 3. Release binary size (`make release`: arm64, stripped, LTO, opt-level s; "
              f"{' and '.join(ACTIONS_BINARIES)} are built for arm64 by this script, `make release` does not "
              "build them)", "",
              f"| function | arm64 target/lambda/…/bootstrap | target ≤ {TARGET_BINARY_BYTES / 1e6:g} MB | "
              "x86_64 target/release (for reference) |", "|---|--:|---|--:|"]
    for name, (arm, x86) in sizes.items():
        arm_text = f"{arm:,} B ({arm / 1e6:.2f} MB)" if arm else "not built"
        met = "(baseline)" if name == BASELINE else (yes_no(arm <= TARGET_BINARY_BYTES) if arm else "?")
        x86_text = f"{x86:,} B ({x86 / 1e6:.2f} MB)" if x86 else "not built"
        lines.append(f"| {name} | {arm_text} | {met} | {x86_text} |")

    lines += ["", "## 4. Peak RSS (VmHWM, read just before the process was stopped)", "",
              "| process | peak RSS |", "|---|--:|",
              f"| hook-intake after the latency run ({args.single} + {args.batches} deliveries + warm-up) | "
              f"{mib(intake['peak_kib'])} |",
              f"| {BASELINE} after the same deliveries | {mib(hello['peak_kib'])} |", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=200, help="single-event deliveries (default 200)")
    parser.add_argument("--batches", type=int, default=50, help="100-event deliveries (default 50)")
    parser.add_argument("--batch-size", type=int, default=100, help="events per batch delivery (default 100)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed deliveries of each size first (default 3)")
    parser.add_argument("--starts", type=int, default=10, help="fresh starts per function for init time (default 10)")
    parser.add_argument("--moto-samples", type=int, default=20, help="boto3 calls per moto measurement (default 20)")
    parser.add_argument("--action-samples", type=int, default=5,
                        help="single-action requests per action type (default 5)")
    parser.add_argument("--leaver-samples", type=int, default=2,
                        help="requests per leaver-path type; each waits ~21 s for its job (default 2)")
    parser.add_argument("--big-request", type=int, default=100,
                        help="actions in the rate-limit request (default 100)")
    parser.add_argument("--no-actions", dest="actions", action="store_false",
                        help="skip section 5 (provisioning actions against okta-sim)")
    parser.add_argument("--no-export", dest="export", action="store_false",
                        help="skip section 6 (the audit export's memory against the trail's size)")
    parser.add_argument("--export-sizes", default=",".join(map(str, bench_export.DEFAULT_SIZES)),
                        help="audit lines per seeded trail in section 6, comma-separated (default %(default)s)")
    parser.add_argument("--no-build", dest="build", action="store_false",
                        help="use the binaries already in target/ (no cargo build)")
    parser.add_argument("--no-hello-arm64", dest="hello_arm64", action="store_false",
                        help=f"do not build {BASELINE} for arm64 (its size is then not reported)")
    args = parser.parse_args()
    if min(args.single, args.batches, args.batch_size, args.starts, args.moto_samples,
           args.action_samples, args.leaver_samples, args.big_request) < 1 or args.warmup < 0:
        parser.error("counts must be positive")
    return args


def binary_size(path: Path) -> int | None:
    return path.stat().st_size if path.exists() else None


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    if args.build:
        build(args)
    release = TARGET / "release"
    binaries = {name: release / name for name in (*HOOK_FUNCTIONS, BASELINE)}
    missing = [str(p) for p in binaries.values() if not p.exists()]
    if missing:
        raise SystemExit(f"missing release binaries: {missing}; run without --no-build")
    sizes = {name: (binary_size(TARGET / "lambda" / name / "bootstrap"), binary_size(path))
             for name, path in {**binaries, **{n: release / n for n in (*SIZED_ONLY, *ACTIONS_BINARIES)}}.items()}

    procs = Processes(STATE / "logs")
    procs.clear_logs()
    try:
        endpoint = start_moto(procs)
        log(f"moto on {endpoint}")
        template_env, token = provision(endpoint)
        log("measuring moto's own latency (before the runs)")
        moto_before = measure_moto(endpoint, args.moto_samples)
        runs = {}
        for name in ("hook-intake", BASELINE):
            log(f"latency: {name}, {args.single} single-event and {args.batches} {args.batch_size}-event deliveries")
            runs[name] = run_deliveries(name, binaries[name], procs, template_env, endpoint, token, args)
        log("measuring moto's own latency (after the runs, with the table grown)")
        moto_after = measure_moto(endpoint, args.moto_samples)
        log(f"init time: {args.starts} starts each")
        inits: dict[str, list[dict]] = {name: [] for name in binaries}
        for _ in range(args.starts):  # round-robin, so drift affects every function alike
            for name, path in binaries.items():
                inits[name].append(measure_init(name, path, procs, template_env, endpoint))
        actions = None
        if args.actions:
            log(f"provisioning actions: {args.action_samples} requests per type, then a "
                f"{args.big_request}-action request")
            actions = run_actions(procs, endpoint, args)
        exports = None
        if args.export:
            log(f"audit export and report: trails of {args.export_sizes} lines")
            exports = bench_export.run(endpoint, [int(n) for n in args.export_sizes.split(",")])
    finally:
        procs.stop_all()

    text = report(args, (moto_before, moto_after), runs, inits, sizes)
    if actions is not None:
        text += "\n".join(actions_report(actions, args))
    if exports is not None:
        text += "\n".join(bench_export.report_lines(exports))
    text += f"\n_bench took {time.monotonic() - started:.0f} s (builds included)._\n"
    REPORT.write_text(text)
    print(text)
    log(f"written to {REPORT.relative_to(ROOT)}")


def interrupt(signum, frame):
    """SIGTERM ends the run like Ctrl-C: through the `finally` that stops the processes."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, interrupt)
    main()
