"""A chaos run: the local stack under crashes, races, outages and floods, then the oracle.

1. Up: the emulators, the CRM look-alikes and the webhook receiver (the local stack), a
   fault proxy in front of each dependency, and the function instances (one ingest; two
   of every other function, racing, the second with a skewed clock), each instance with
   its own push subscriptions (no retry policy: the emulator strands messages under one).
2. Stream: simulated sessions, every event duplicated with p=0.3 and shuffled, published by
   concurrent processes; a scheduler tick every few seconds; the planned faults fire as
   ingest progresses (SIGKILL of ingest, bursts of ticks with a finalizer SIGKILLed in the
   middle, proxy faults on every dependency, CRM error answers).
3. Settle: keep ticking until the oracle finds nothing missing or wrong, nothing is due and
   no claim is live, and that stays so for a quiet period. The time from the last fault to
   then is the settle time.
4. Report: the oracle's counts (``Verdict``), the faults injected, the figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from devstack import local_stack
from devstack.chaos.instances import Instance, base_env, plan_instances, subscribe
from devstack.chaos.oracle import Oracle, Verdict
from devstack.chaos.plan import ChaosConfig, Fault, make_plan
from devstack.faultproxy import FaultProxy, ProxyHub
from devstack.simulate import simulate_traffic

# The CRM the run exercises: the look-alike Zendesk, records for every session the
# seed-004 rules allow (abandoned ones too), so that most sessions make CRM traffic.
CRM_ENV = {
    "CRM__KIND": "zendesk",
    "CRM__PLATFORM_TAG": "true",
    "CRM__SESSION_TYPE_TAGS": "true",
    "CRM__ABANDONED_CALL_RECORDS": "true",
    "CRM__ABANDONED_CHAT_RECORDS": "min_messages",
    "CRM__ABANDONED_CHAT_MIN_MESSAGES": "1",
    "CRM__DEFAULT_ADMIN_USER": "9001",
}
PROXY_DELAY = {"crm": 4.0}  # seconds per chunk in delay mode; beats the CRM timeout
DEFAULT_DELAY = 0.3
FRONT_PATIENCE = 60.0  # seconds a push waits for a restarting instance
POLL = 3.0  # seconds between looks at the ingest progress
INSTANCES_FILE = "instances.json"
TICK_AHEAD = timedelta(minutes=20)


@dataclass
class ChaosReport:
    config: dict[str, Any]
    verdict: dict[str, Any]
    faults: list[dict[str, Any]]
    figures: dict[str, Any]
    proxies: dict[str, Any] = field(default_factory=dict)
    instances: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.verdict["failures"] and self.figures.get("settled", False)


def run_chaos(
    config: ChaosConfig, work_dir: Path, log: Callable[[str], None] = print
) -> ChaosReport:
    """Run the scenario in ``work_dir`` (state, logs, report) and return the report."""
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    _clean_up_after(work_dir)
    run = _Run(config, work_dir, log)
    saved = dict(os.environ)  # the run points this process at its own stack
    try:
        return run.execute()
    finally:
        run.teardown()
        # Give the caller its environment and clients back: a test session that goes on
        # after this run must not talk to the stack the run has just stopped.
        os.environ.clear()
        os.environ.update(saved)
        _reset_client_caches()


class _Run:
    def __init__(self, config: ChaosConfig, work_dir: Path, log: Callable[[str], None]) -> None:
        self.config = config
        self.dir = work_dir
        self.log_dir = work_dir / "logs"
        self.log_dir.mkdir(exist_ok=True)
        self.say = log
        self.t0 = time.monotonic()
        self.plan = make_plan(config)
        self.fired: list[dict[str, Any]] = []
        self.stack: local_stack.Stack | None = None
        self.hub: ProxyHub | None = None
        self.instances: dict[str, list[Instance]] = {}
        self.publishers: list[subprocess.Popen[bytes]] = []
        self.ticks_sent = 0
        self.last_tick = 0.0
        self.last_fault_end = 0.0
        self._stop_ticking = threading.Event()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The time a tick sent now stands for."""
        return datetime.now(UTC) + self.tick_offset

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def note(self, text: str) -> None:
        self.say(f"[{self.elapsed():7.1f} s] {text}")

    # --- up -----------------------------------------------------------------------------

    def execute(self) -> ChaosReport:
        cfg = self.config
        sim_now = datetime.now(UTC).replace(microsecond=0)
        # Ticks stand for a time 20 minutes after the traffic's "now" (every session that
        # ended is due by then) and move on with the wall clock, as scheduler ticks do: a
        # session given back after a failure is due again a little later.
        self.tick_offset = sim_now + TICK_AHEAD - datetime.now(UTC)
        self.tick_now = sim_now + TICK_AHEAD
        traffic = simulate_traffic(
            seed=cfg.seed,
            now=sim_now,
            sessions=cfg.sessions,
            duplicate_fraction=cfg.duplicate_fraction,
            bad=cfg.bad,
            stuck=cfg.stuck,
        )
        clean = _clean_lines(traffic)
        (self.dir / "clean.jsonl").write_bytes(b"".join(line + b"\n" for line in clean))
        self.note(
            f"traffic: {cfg.sessions} sessions, {len(traffic.lines)} messages "
            f"({len(clean)} distinct lines, {len(traffic.bad_lines)} bad)"
        )
        self._start(traffic)
        oracle = self._oracle(clean)
        try:
            figures = self._stream(traffic, oracle)
            verdict, settle = self._settle(oracle)
        finally:
            oracle.close()
        figures |= settle
        figures["ticks_sent"] = self.ticks_sent
        figures["wall_seconds"] = round(self.elapsed(), 1)
        report = ChaosReport(
            config=asdict(cfg),
            verdict=verdict.as_dict() | {"failures": verdict.failures},
            faults=self.fired,
            figures=figures,
            proxies=self._proxy_stats(),
            instances={
                i.name: {"starts": i.starts, "kills": i.kills}
                for group in self.instances.values()
                for i in group
            },
        )
        (self.dir / "report.json").write_text(json.dumps(report.__dict__, indent=2, default=str))
        return report

    def _start(self, traffic: Any) -> None:
        cfg = self.config
        self.note("starting the emulators, CRM look-alikes and webhook receiver")
        self.stack = local_stack.start_stack(
            self.dir / "state", functions=False, crm_sink=True, extra_env=dict(CRM_ENV)
        )
        stack = self.stack
        clean_env = base_env()  # before this process points at the stack
        os.environ.update(stack.env())
        _reset_client_caches()
        _version_bucket(stack)
        self.hub = ProxyHub()
        upstreams = {
            "firestore": stack.firestore_host,
            "pubsub": stack.pubsub_host,
            "storage": stack.storage_host,
            "crm": stack.fake_crm_url or "",
            "webhook": stack.crm_sink_url or "",
        }
        self.dep_proxies: dict[str, dict[str, FaultProxy]] = {dep: {} for dep in upstreams}

        def env_of(function: str, index: int) -> dict[str, str]:
            """Each instance reaches each dependency through a proxy of its own, so that a
            fault can cut one instance off (a partition) or all of them (an outage)."""
            name = f"{function}-{index}"
            via = {
                dep: self.hub.add(f"{dep}@{name}", upstream).address
                for dep, upstream in upstreams.items()
            }
            for dep in upstreams:
                self.dep_proxies[dep][name] = self.hub.proxies[f"{dep}@{name}"]
            env = clean_env | stack.env()
            env |= {
                "FIRESTORE_EMULATOR_HOST": via["firestore"],
                "PUBSUB_EMULATOR_HOST": via["pubsub"],
                "STORAGE_EMULATOR_HOST": f"http://{via['storage']}",
                "CRM__BASE_URL": f"http://{via['crm']}/{CRM_ENV['CRM__KIND']}",
                "WEBHOOK_URL": f"http://{via['webhook']}/webhook",
                "CRM_TIMEOUT_SECONDS": str(cfg.crm_timeout_seconds),
                "FINALIZE_DELAY_SECONDS": "900",
            }
            if cfg.bug:
                env["CHAOS_BUG"] = cfg.bug
            if index == 1:
                skew = cfg.crm_skew_seconds if function == "crm" else cfg.clock_skew_seconds
                env["CHAOS_CLOCK_SKEW_SECONDS"] = str(skew)
            return env

        copies = {"*": cfg.racing, "ingest": 1}
        self.instances = plan_instances(copies, env_of, self.log_dir)
        for group in self.instances.values():
            for instance in group:
                instance.start()
        self._record_instances()
        for group in self.instances.values():
            for instance in group:
                instance.wait_ready()
        # Pushes reach each instance through a front that holds a request while the
        # instance restarts (Cloud Run queues requests during a cold start; nothing there
        # answers "connection refused").
        fronts = {
            i.name: self.hub.add(f"front-{i.name}", i.url, patience=FRONT_PATIENCE)
            for group in self.instances.values()
            for i in group
        }
        subscribe(stack, self.instances, url_of=lambda i: f"http://{fronts[i.name].address}")
        names = ", ".join(i.name for g in self.instances.values() for i in g)
        self.note(f"up: {names}; fault proxies for {', '.join(upstreams)} per instance")

    def _proxy_stats(self) -> dict[str, dict[str, int]]:
        """Per dependency, summed over the instances' proxies."""
        out: dict[str, dict[str, int]] = {}
        stats = self.hub.stats() if self.hub else {}
        for dep, proxies in getattr(self, "dep_proxies", {}).items():
            total = {"connections": 0, "resets": 0, "bytes_up": 0, "bytes_down": 0}
            for name in proxies:
                for key in total:
                    total[key] += stats[f"{dep}@{name}"][key]
            out[dep] = total
        return out

    def _record_instances(self) -> None:
        """Process groups of the instances, so that a run killed hard can be cleaned up."""
        groups = [i.proc.pid for g in self.instances.values() for i in g if i.proc]
        (self.dir / INSTANCES_FILE).write_text(json.dumps(groups))

    def _oracle(self, clean: list[bytes]) -> Oracle:
        from shared import bootstrap
        from shared.config import Settings

        return Oracle(
            self.stack,
            clean,
            now=self.tick_now,
            settings=Settings(),
            db=bootstrap.firestore_client(),
            clock=self.now,
        )

    # --- stream -------------------------------------------------------------------------

    def _stream(self, traffic: Any, oracle: Oracle) -> dict[str, Any]:
        cfg = self.config
        stack = self.stack
        shares = [traffic.lines[i :: cfg.publishers] for i in range(cfg.publishers)]
        started = time.monotonic()
        for n, share in enumerate(shares):
            path = self.dir / f"publisher-{n}.jsonl"
            path.write_bytes(b"".join(line + b"\n" for line in share))
            self.publishers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "devstack.chaos.publisher", "--host", stack.pubsub_host]
                    + ["--project", stack.project, "--topic", stack.topics["events"]]
                    + ["--lines", str(path), "--credits"],
                    cwd=local_stack.REPO_ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=(self.log_dir / f"publisher-{n}.log").open("wb"),
                )
            )
        self.note(f"{cfg.publishers} publishers started")
        ticker = threading.Thread(target=self._tick_loop, daemon=True)
        ticker.start()
        from google.cloud import firestore

        db = oracle.db
        pending = list(self.plan.faults)
        target = oracle.event_count
        bad = len(oracle.bad_lines)
        last_say = 0.0
        published_at = None
        # However long a large run takes, it goes on while events keep being stored; it
        # stops only when nothing moved for longer than any redelivery can take.
        stall = cfg.stream_stall or local_stack.retry_policy()["maximum_backoff"]["seconds"] + 60
        seen: tuple[int, int] = (-1, -1)
        moved_at = time.monotonic()
        granted = 0
        share = target / len(traffic.lines)  # distinct events per message
        while True:
            stored = _stored_events(db, oracle.settings.sessions_collection)
            kept = _count(db.collection(oracle.settings.quarantine_collection))
            progress = stored / target if target else 1.0
            granted = self._grant(granted, stored / share, len(traffic.lines))
            while pending and pending[0].at <= progress:
                self._fire(pending.pop(0))
            if published_at is None and all(p.poll() is not None for p in self.publishers):
                published_at = time.monotonic() - started
                failed = [p.returncode for p in self.publishers if p.returncode]
                if failed:
                    raise RuntimeError(f"a publisher failed ({failed}); see {self.log_dir}")
                self.note(f"all messages published in {published_at:.1f} s")
            if time.monotonic() - last_say > 15:
                self.note(f"ingested {stored}/{target} events, {kept}/{bad} bad lines kept")
                last_say = time.monotonic()
            if stored >= target and kept >= bad and published_at is not None:
                break
            if (stored, kept) != seen:
                seen, moved_at = (stored, kept), time.monotonic()
            elif time.monotonic() - moved_at > stall:
                raise TimeoutError(f"ingest stalled at {stored}/{target} events for {stall:.0f} s")
            time.sleep(POLL)
        for fault in pending:  # progress can jump past the last points at the very end
            self._fire(fault)
        del firestore
        self._stop_ticking.set()
        ticker.join(timeout=30)
        took = time.monotonic() - started
        self.note(f"stream done: {target} distinct events stored in {took:.1f} s")
        return {
            "messages": len(traffic.lines),
            "distinct_events": target,
            "publish_seconds": round(published_at or 0, 1),
            "ingest_seconds": round(took, 1),
            "events_per_second": round(target / took, 1) if took else None,
        }

    def _grant(self, granted: int, done: float, total: int) -> int:
        """Let the publishers go on while fewer than ``window`` messages are in flight."""
        more = min(total - granted, int(done + self.config.window - granted))
        if more <= 0:
            return granted
        per = -(-more // len(self.publishers))
        for proc in self.publishers:
            if proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.write(f"{per}\n".encode())
                    proc.stdin.flush()
                except BrokenPipeError:
                    pass
        return granted + per * len(self.publishers)

    def _tick_for(self, seconds: float, every: float = 5.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stop_ticking.is_set():
            self._tick()
            time.sleep(every)

    def _tick_loop(self) -> None:
        while not self._stop_ticking.wait(self.config.tick_every):
            self._tick()

    def _tick(self, count: int = 1) -> None:
        from sessionctl.feed import publish_tick

        for _ in range(count):
            publish_tick(self.stack, self.now())
            with self._lock:
                self.ticks_sent += 1
                self.last_tick = time.monotonic()

    def _fire(self, fault: Fault) -> None:
        self.note(f"fault at {fault.at:.0%}: {fault.label()}")
        record = asdict(fault) | {"fired_at_s": round(self.elapsed(), 1), "label": fault.label()}
        self.fired.append(record)
        if fault.kind == "kill_ingest":
            instance = self.instances["ingest"][0]
            instance.kill()
            time.sleep(fault.seconds)
            instance.start()
            self._record_instances()
            instance.wait_ready()
            self._fault_ended(0)
        elif fault.kind == "tick_burst":
            self._tick(fault.count)
            victim = _first_finalizer(self.instances)
            time.sleep(0.5)  # the burst is being worked on
            victim.kill()
            record["killed"] = victim.name
            time.sleep(1.0)
            victim.start()
            self._record_instances()
            victim.wait_ready()
            self._fault_ended(0)
        elif fault.kind == "proxy":
            delay = PROXY_DELAY.get(fault.target, DEFAULT_DELAY)
            for proxy in self.dep_proxies[fault.target].values():
                proxy.inject(fault.mode, fault.seconds, delay=delay)
            self._fault_ended(fault.seconds)
        elif fault.kind == "stale_finalizer":
            # Cut the first finalizer off Cloud Storage past the time the skewed second
            # finalizer deems its claim expired, and keep ticking: the second one takes the
            # session over and writes it; the first one's write lands afterwards, stale.
            victim = _first_finalizer(self.instances)
            self.dep_proxies["storage"][victim.name].inject("blackhole", fault.seconds)
            record["partitioned"] = victim.name
            threading.Thread(target=self._tick_for, args=(fault.seconds,), daemon=True).start()
            self._fault_ended(fault.seconds)
        elif fault.kind == "crm_status":
            httpx.post(
                f"{self.stack.fake_crm_url}/_admin/fail",
                json={
                    "crm": CRM_ENV["CRM__KIND"],
                    "status": int(fault.target),
                    "count": fault.count,
                },
                timeout=10,
            ).raise_for_status()
            self._fault_ended(0)

    def _fault_ended(self, lasts: float) -> None:
        self.last_fault_end = max(self.last_fault_end, time.monotonic() + lasts)

    # --- settle -------------------------------------------------------------------------

    def _settle(self, oracle: Oracle) -> tuple[Verdict, dict[str, Any]]:
        cfg = self.config
        begun = time.monotonic()
        self.note("settling: ticking until nothing is missing, due or claimed")
        settled_since: float | None = None
        last_shape: tuple[Any, ...] = ()
        backoff = local_stack.retry_policy()["maximum_backoff"]["seconds"]
        stuck = cfg.stuck_seconds or 2 * backoff + 60
        unchanged_since = time.monotonic()
        verdict = oracle.check()
        checks = 1
        while True:
            if verdict.settled:
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since >= cfg.quiet_seconds:
                    break
            else:
                settled_since = None
            if time.monotonic() - begun > cfg.settle_timeout:
                self.note("gave up settling")
                break
            shape = (tuple(sorted(verdict.failures.items())), verdict.pending_sessions)
            if shape != last_shape or verdict.live_claims:
                last_shape, unchanged_since = shape, time.monotonic()
            elif time.monotonic() - unchanged_since > stuck:
                # The same problems for longer than any redelivery can take: the pipeline
                # has done all it will do.
                self.note(f"nothing moved for {stuck:.0f} s: stopping, not settled")
                break
            # Tick while sessions are due or claimed, and at the scheduler's cadence anyway:
            # the tick also releases the parked CRM jobs, as the deployed one does.
            if (
                verdict.pending_sessions
                or verdict.live_claims
                or time.monotonic() - self.last_tick >= cfg.tick_every
            ):
                self._tick()
            time.sleep(cfg.settle_poll)
            verdict = oracle.check()
            checks += 1
            self.note(f"{_progress(verdict)} | tick would say: {self._backlog()}")
        settle_at = settled_since if verdict.settled else None
        figures = {
            "settled": settle_at is not None,
            "settle_seconds": round(settle_at - max(self.last_fault_end, 0), 1)
            if settle_at
            else None,
            "settle_seconds_after_stream": round(settle_at - begun, 1) if settle_at else None,
            "oracle_checks": checks,
        }
        return verdict, figures

    def _backlog(self) -> str:
        """What ``sessionctl tick`` prints about the backlog (the settled state, observable)."""
        from sessionctl.commands.feed import describe_backlog
        from shared import bootstrap

        return describe_backlog(bootstrap.schedule().backlog(self.now()))

    # --- down ---------------------------------------------------------------------------

    def teardown(self) -> None:
        self._stop_ticking.set()
        for proc in self.publishers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for group in self.instances.values():
            for instance in group:
                instance.stop()
        if self.hub is not None:
            self.hub.close()
        if self.stack is not None:
            local_stack.stop_stack(self.dir / "state")
        (self.dir / INSTANCES_FILE).unlink(missing_ok=True)


def _clean_up_after(work_dir: Path) -> None:
    """Stop what an earlier run in this directory left running (it was killed hard)."""
    groups = work_dir / INSTANCES_FILE
    if groups.exists():
        for pgid in json.loads(groups.read_text() or "[]"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pgid), signal.SIGKILL)
        groups.unlink()
    if (work_dir / "state").exists():
        local_stack.stop_stack(work_dir / "state")


def _first_finalizer(instances: dict[str, list[Instance]]) -> Instance:
    """The finalizer to kill mid-tick: ``finalize-0`` today, the first worker after a fan-out."""
    for name in ("finalize_worker", "finalize-worker", "finalize"):
        if instances.get(name):
            return instances[name][0]
    for name, group in instances.items():
        if name.startswith("finalize") and group:
            return group[0]
    raise RuntimeError(f"no finalizer among {sorted(instances)}")


def _clean_lines(traffic: Any) -> list[bytes]:
    """Each good envelope once, then the bad lines: what ``replay`` is run on."""
    seen: dict[bytes, None] = {}
    for session in traffic.sessions:
        for event in session.events:
            seen[json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()] = None
    return list(seen) + list(traffic.bad_lines)


def _stored_events(db: Any, sessions: str) -> int:
    """Distinct events stored: those in ``events/`` and those kept in the session document.

    Why both: ingest keeps a session's first event and its ``session.ended`` in the
    session document's ``inline`` map (one write each, with the schedule they move);
    counting ``events/`` alone never reaches the total and reads as a stalled ingest.
    """
    from shared.adapters.firestore_common import INLINE_FIELD

    apart = _count(db.collection_group("events"))
    inline = sum(
        len((snapshot.to_dict() or {}).get(INLINE_FIELD) or {})
        for snapshot in db.collection(sessions).select([INLINE_FIELD]).stream()
    )
    return apart + inline


def _count(query: Any) -> int:
    result = query.count().get()
    return int(result[0][0].value)


def _version_bucket(stack: local_stack.Stack) -> None:
    """Keep every generation of every object, so the oracle sees duplicates and gaps."""
    url = f"{stack.storage_host}/storage/v1/b/{stack.bucket}"
    with httpx.Client(trust_env=False, timeout=10) as client:
        response = client.patch(url, json={"versioning": {"enabled": True}})
        if response.status_code >= 400 or not response.json().get("versioning", {}).get("enabled"):
            client.delete(url)
            created = client.post(
                f"{stack.storage_host}/storage/v1/b",
                params={"project": stack.project},
                json={"name": stack.bucket, "versioning": {"enabled": True}},
            )
            created.raise_for_status()


def _reset_client_caches() -> None:
    from shared import bootstrap
    from shared.config import get_settings

    get_settings.cache_clear()
    for name in ("firestore_client", "files", "publisher", "webhook", "crm_deps"):
        cached = getattr(bootstrap, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def _progress(v: Verdict) -> str:
    parts = [f"{v.files_found}/{v.sessions_expected} files"]
    if v.pending_sessions or v.live_claims:
        parts.append(f"{v.pending_sessions} due, {v.live_claims} claimed")
    parts += [f"{k} {n}" for k, n in v.failures.items()]
    return "settle: " + ", ".join(parts)
