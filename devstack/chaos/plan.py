"""What a chaos run does, decided up front from its seed: the traffic and every fault.

Faults fire at points of the ingest progress (the share of distinct events stored), not
at wall-clock times, so that a slow machine sees the same faults at the same stage of
the stream as a fast one. Dependency faults cover every (dependency, mode) pair once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DEPENDENCIES = ("firestore", "pubsub", "storage", "crm")
MODES = ("refuse", "reset", "delay", "blackhole")


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` with its arguments, fired when ingest progress reaches ``at``."""

    at: float  # 0..1 of the distinct events stored
    kind: str  # kill_ingest | tick_burst | proxy | crm_status
    target: str = ""  # proxy name, or the CRM status code
    mode: str = ""  # proxy mode
    seconds: float = 0.0  # how long a proxy fault lasts; how long a killed server stays down
    count: int = 0  # ticks in a burst; CRM answers to fail

    def label(self) -> str:
        if self.kind == "kill_ingest":
            return f"SIGKILL ingest, down {self.seconds:.1f} s"
        if self.kind == "tick_burst":
            return f"{self.count} ticks at once, the first finalizer SIGKILLed mid-tick"
        if self.kind == "stale_finalizer":
            return f"the first finalizer cut off Cloud Storage for {self.seconds:.0f} s, ticking"
        if self.kind == "proxy":
            return f"{self.target}: {self.mode} for {self.seconds:.1f} s"
        return f"CRM answers {self.target} to the next {self.count} calls"


@dataclass(frozen=True)
class ChaosConfig:
    sessions: int = 200
    seed: int = 7
    publishers: int = 4
    window: int = 100  # messages in flight at most (published, not yet stored)
    duplicate_fraction: float = 0.3
    bad: int = 6  # malformed lines (each must be quarantined, nothing else)
    stuck: int = 2  # sessions that never end (the stuck timeout finalizes them)
    racing: int = 2  # instances of each function but ingest (finalizers, CRM workers)
    clock_skew_seconds: float = 90.0  # the second finalizer's clock is this far ahead
    crm_skew_seconds: float = -30.0  # the second CRM worker's clock
    claim_lease_seconds: float = 120.0  # the functions' CLAIM_LEASE_SECONDS (the default)
    fault_seconds: tuple[float, float] = (3.0, 6.0)  # each dependency fault's length
    crm_timeout_seconds: float = 3.0  # the functions' CRM HTTP timeout (delay faults beat it)
    tick_every: float = 60.0  # a scheduler tick this often while the stream runs (as deployed)
    settle_poll: float = 10.0  # the oracle looks this often while settling (and ticks)
    quiet_seconds: float = 20.0  # settled must stay settled this long
    settle_timeout: float = 5400.0  # a backstop: the stuck check below ends a stuck run
    stuck_seconds: float | None = None  # settling stops once nothing moved this long
    # (default: twice the retry policy's maximum backoff and a minute: a notice whose push
    # failed at the maximum backoff gets two more deliveries before the run says "stuck";
    # one run stopped at one backoff and a minute with one webhook post still missing)
    stream_stall: float | None = None  # no ingest progress this long ends the run (default:
    # the retry policy's maximum backoff and a minute); no limit on the stream's length
    bug: str = ""  # a deliberate bug in the functions (devstack/chaos/inject)

    def __post_init__(self) -> None:
        if self.sessions < 10:
            raise ValueError("a chaos run needs at least 10 sessions")
        if self.publishers < 1 or self.racing < 1:
            raise ValueError("need at least one publisher and one instance per function")


@dataclass(frozen=True)
class Plan:
    faults: tuple[Fault, ...]
    ingest_kills: int
    notes: list[str] = field(default_factory=list)


def make_plan(config: ChaosConfig) -> Plan:
    """Every fault of the run, ordered by the progress at which it fires."""
    rng = random.Random(f"chaos-plan:{config.seed}")
    low, high = config.fault_seconds
    faults: list[Fault] = []
    kills = rng.choice((2, 3))
    for k in range(kills):  # spread over the stream, each in its own stretch
        at = (k + 0.5 + rng.uniform(-0.2, 0.2)) / (kills + 0.5)
        faults.append(Fault(at, "kill_ingest", seconds=round(rng.uniform(0.5, 3.0), 1)))
    for at in (rng.uniform(0.25, 0.35), rng.uniform(0.6, 0.7)):
        faults.append(Fault(at, "tick_burst", count=rng.randint(4, 8)))
    pairs = [(dep, mode) for dep in DEPENDENCIES for mode in MODES]
    rng.shuffle(pairs)
    for n, (dep, mode) in enumerate(pairs):
        at = 0.05 + 0.85 * (n + rng.random()) / len(pairs)
        faults.append(Fault(at, "proxy", dep, mode, round(rng.uniform(low, high), 1)))
    # The webhook receiver refuses and resets too (never mid-request: a post it got and
    # we did not hear back about is resent under the same Idempotency-Key).
    for mode in ("refuse", "reset"):
        faults.append(Fault(rng.uniform(0.1, 0.9), "proxy", "webhook", mode, round(low, 1)))
    # One finalizer cut off Cloud Storage longer than the racing one deems its claim live.
    stale = config.claim_lease_seconds - config.clock_skew_seconds + 20
    faults.append(Fault(rng.uniform(0.4, 0.55), "stale_finalizer", seconds=max(stale, 10)))
    for status, count in (("429", 5), ("500", 3), ("503", 3)):
        faults.append(Fault(rng.uniform(0.1, 0.9), "crm_status", status, count=count))
    faults.sort(key=lambda f: f.at)
    return Plan(tuple(faults), kills)
