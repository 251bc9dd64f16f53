"""One of a chaos run's concurrent publishers: its share of the lines to the events topic.

Run as a process (``python -m devstack.chaos.publisher``) so that four of them publish
truly at once, as several platform instances would. With ``--credits`` it publishes only
as many lines as the runner allows on stdin (one number a line): the local Pub/Sub
emulator pushes every outstanding message at once, with none of the real service's
push flow control, so an unpaced flood times its own pushes out and sends them into
backoff. Prints one JSON line when done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sessionctl.feed import envelope_attributes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.chaos.publisher")
    parser.add_argument("--host", required=True, help="Pub/Sub emulator host:port")
    parser.add_argument("--project", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--lines", required=True, type=Path, help="one message per line")
    parser.add_argument("--credits", action="store_true", help="publish as stdin allows")
    args = parser.parse_args(argv)
    os.environ["PUBSUB_EMULATOR_HOST"] = args.host
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=200, max_latency=0.02)
    )
    topic = client.topic_path(args.project, args.topic)
    started = time.monotonic()
    futures = []
    lines = [raw.rstrip(b"\n") for raw in args.lines.open("rb")]
    lines = [raw for raw in lines if raw]
    allowed = len(lines) if not args.credits else 0
    sent = 0
    while sent < len(lines):
        if sent >= allowed:
            credit = sys.stdin.readline()
            if not credit:
                break  # the runner is gone
            allowed += int(credit)
            continue
        raw = lines[sent]
        futures.append(client.publish(topic, raw, **envelope_attributes(raw)))
        sent += 1
    for future in futures:
        future.result(timeout=300)
    took = time.monotonic() - started
    print(json.dumps({"published": len(futures), "seconds": round(took, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
