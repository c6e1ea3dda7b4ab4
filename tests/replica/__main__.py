"""python -m tests.replica {serve,truth,save-pages}"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tests.replica.portal import PORTALS, make_site
from tests.replica.save_pages import save_pages
from tests.replica.server import ReplicaServer, RequestRecord
from tests.replica.site import ReplicaConfig

if TYPE_CHECKING:
    from types import FrameType


def _site_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--articles", type=int, default=ReplicaConfig.articles)
    parser.add_argument("--seed", type=int, default=ReplicaConfig.seed)
    parser.add_argument("--extra-articles", type=int, default=0)
    parser.add_argument("--edit", default="", help="article numbers, e.g. 3,5")
    parser.add_argument("--break", dest="broken", action="append", default=[], choices=["date"])
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--delta", type=int, default=ReplicaConfig.delta)
    parser.add_argument("--portal", default=ReplicaConfig.portal, choices=["hepza", *PORTALS])


def config_from(args: argparse.Namespace) -> ReplicaConfig:
    return ReplicaConfig(
        articles=args.articles,
        seed=args.seed,
        extra_articles=args.extra_articles,
        edited=tuple(int(x) for x in args.edit.split(",") if x.strip()),
        broken=tuple(args.broken),
        faults=args.faults,
        delta=args.delta,
        portal=args.portal,
    )


def serve(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        log = (
            stack.enter_context(Path(args.request_log).open("a", encoding="utf-8"))
            if args.request_log
            else None
        )
        return _serve(args, log)


def _serve(args: argparse.Namespace, log: TextIO | None) -> int:
    log_lock = threading.Lock()

    def on_request(record: RequestRecord) -> None:
        if log is None:
            return
        line = json.dumps(record._asdict(), ensure_ascii=False)
        with log_lock:
            log.write(line + "\n")
            log.flush()

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = ReplicaServer(
        config_from(args), args.port, on_request=on_request, reuse_port=args.reuse_port
    ).start()
    try:
        print(server.url, flush=True)
        if args.ready_file:
            ready = Path(args.ready_file)
            tmp = ready.with_name(ready.name + ".tmp")
            tmp.write_text(server.url + "\n", encoding="utf-8")
            tmp.replace(ready)  # readers never see a half-written file
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replica")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="serve the replica on 127.0.0.1")
    _site_options(p_serve)
    p_serve.add_argument("--port", type=int, default=0)
    p_serve.add_argument("--ready-file")
    p_serve.add_argument("--request-log")
    p_serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="SO_REUSEPORT: start several servers of the same site on one --port",
    )
    p_truth = sub.add_parser("truth", help="print the ground truth JSON")
    _site_options(p_truth)
    p_save = sub.add_parser("save-pages", help="write representative pages as fixtures")
    p_save.add_argument("directory")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "truth":
        json.dump(make_site(config_from(args)).truth(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    for name in save_pages(Path(args.directory)):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
