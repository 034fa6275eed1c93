"""Run the fake model server from a JSON script: `python -m tests.fakes --script FILE`.

The first line on stdout is the server's URL; violations go to stderr when it stops.
A script is a JSON list; see tests/fakes/script.py for the item forms, e.g.

    ["plain text reply",
     {"type": "reply", "blocks": [{"type": "tool_use", "name": "LS", "input": {}}]},
     {"type": "http_fault", "status": 529},
     {"type": "delay", "seconds": 0.5, "item": "late reply"}]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.fakes.model_server import ModelServer
from tests.fakes.script import load_script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", required=True, help="JSON list of script items")
    parser.add_argument("--repeat", action="store_true", help="replay the script forever")
    parser.add_argument("--cache", action="store_true", help="emulate prompt-cache accounting")
    parser.add_argument("--require-key", help="answer 401 unless this API key is sent")
    parser.add_argument("--strict", action="store_true", help="answer 400 on a violation")
    args = parser.parse_args(argv)

    items = load_script(args.script)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    server = ModelServer(
        port=args.port,
        cache=args.cache,
        require_key=args.require_key,
        repeat=args.repeat,
        strict=args.strict,
    )
    with server:
        server.enqueue(*items)
        print(server.url, flush=True)
        done.wait()
    for violation in server.violations:
        print(violation, file=sys.stderr)
    return 1 if server.violations else 0


if __name__ == "__main__":
    sys.exit(main())
