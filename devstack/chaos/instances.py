"""Function instances of a chaos run: several per function, each killable and restartable.

The local stack runs one server per function. A chaos run needs more: two finalizers and
two CRM workers racing (each with its own push subscription, so every message reaches
both, the hardest race there is), instances whose clocks are skewed, and instances that
reach their dependencies through fault proxies. Which functions exist and which topic
feeds which comes from the local stack's table, so a new function (say, a finalize worker
fed by a job topic) is raced and killed like the others without a change here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import local_stack

REPO_ROOT = local_stack.REPO_ROOT
INJECT_DIR = Path(__file__).resolve().parent / "inject"  # sitecustomize: clock skew, bugs


@dataclass
class Instance:
    """One functions-framework server of ``function``, named ``{function}-{index}``."""

    function: str
    index: int
    port: int
    env: dict[str, str]
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    history: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.function}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        beside = Path(sys.executable).parent / "functions-framework"
        argv = [
            str(beside),
            "--source",
            str(REPO_ROOT / "functions" / self.function / "main.py"),
            "--target",
            self.function,
            "--signature-type",
            "cloudevent",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.starts += 1
        log = self.log_dir / f"{self.name}.{self.starts}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see its log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not listening after {timeout:.0f} s") from None
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the whole process group (gunicorn's arbiter and its worker)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()


def free_ports(count: int) -> list[int]:
    return local_stack._free_ports(count)  # noqa: SLF001 - the stack's own port picker


def plan_instances(copies: dict[str, int], env_of: Any, log_dir: Path) -> dict[str, list[Instance]]:
    """``copies`` per function name; ``env_of(function, index)`` gives each one's env."""
    functions = list(local_stack.FUNCTION_NAMES)
    counts = {fn: copies.get(fn, copies.get("*", 1)) for fn in functions}
    ports = iter(free_ports(sum(counts.values())))
    return {
        fn: [Instance(fn, i, next(ports), env_of(fn, i), log_dir) for i in range(counts[fn])]
        for fn in functions
    }


def subscribe(
    stack: local_stack.Stack,
    instances: dict[str, list[Instance]],
    url_of: Any = lambda instance: instance.url,
) -> list[str]:
    """One push subscription per (topic, instance), as the local stack makes them.

    ``url_of`` gives the address pushes go to (a front proxy that waits for a restarting
    instance, as a serverless front end does).
    """
    publisher, subscriber = local_stack.pubsub_clients(stack)
    names = []
    try:
        for key, fn in local_stack.TOPIC_FUNCTIONS.items():
            topic = stack.topics.get(key)
            if topic is None:
                continue
            topic_path = f"projects/{stack.project}/topics/{topic}"
            for instance in instances.get(fn, []):
                name = f"projects/{stack.project}/subscriptions/{topic}-{instance.name}"
                subscriber.create_subscription(
                    request=local_stack.push_subscription(name, topic_path, url_of(instance))
                )
                names.append(name)
    finally:
        subscriber.close()
        publisher.transport.close()
    return names


def base_env() -> dict[str, str]:
    """This process's environment without pipeline or emulator settings, plus the injector."""
    env = local_stack._base_env()  # noqa: SLF001 - the stack's own clean environment
    path = [str(INJECT_DIR), str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    return env | {"PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(path)}
