"""``vigil``: the operator's command.

==================  ==========================================================================
command             what it does
==================  ==========================================================================
``vigil serve``     runs the scoring sidecar in the foreground (settings: flags, or the
                    ``VIGIL_SIDECAR_*`` variables of :mod:`vigil.processors.environment_variables`)
``vigil up``        starts the local stack on loopback: collector, sidecar, Jaeger, Prometheus
                    and the demo app with its traffic; waits until each is healthy
``vigil down``      stops it
``vigil status``    reports each component's state, pid and endpoints (``--json`` for scripts)
``vigil score``     scores recorded OTLP/JSON lines offline (:mod:`vigil.processors.replay`)
==================  ==========================================================================

The command ships with ``vigil-processors`` (the sidecar's distribution) because every command
is operator-side and needs the sidecar's dependencies anyway; applications install only
``vigil-instrumentation`` and never see it.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence

from vigil.processors.settings import SidecarSettings


def _serve(args: argparse.Namespace) -> int:
    from vigil.processors.server import Sidecar

    settings = SidecarSettings.from_env(
        endpoint=args.endpoint,
        return_endpoint=args.return_endpoint,
        health_endpoint=args.health_endpoint,
        scorers=tuple(args.scorers.split(",")) if args.scorers else None,
    )
    sidecar = Sidecar(settings)

    def stop(signum: int, _frame: object) -> None:
        logging.getLogger("vigil").info("received %s", signal.Signals(signum).name)
        sidecar.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sidecar.start()
    sidecar.wait()
    return 0


def _score(args: argparse.Namespace) -> int:
    from vigil.processors.replay import replay
    from vigil.processors.scoring import ScorerChain

    chain = ScorerChain.from_names(name for name in args.scorers.split(",") if name)
    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    sink = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    with source, sink:
        report = replay(source, sink, chain)
    print(
        f"vigil score: {report.scored} requests scored, {report.side_output} events written, "
        f"{len(report.errors)} lines skipped",
        file=sys.stderr,
    )
    return 1 if report.errors else 0


def _up(args: argparse.Namespace) -> int:
    from vigil.processors.stack.runner import Stack

    stack = Stack.default(run_dir=args.run_dir)
    ok = stack.up(with_demo=not args.no_demo, timeout=args.timeout)
    print(stack.describe())
    return 0 if ok else 1


def _down(args: argparse.Namespace) -> int:
    from vigil.processors.stack.runner import Stack

    Stack.default(run_dir=args.run_dir).down()
    return 0


def _status(args: argparse.Namespace) -> int:
    from vigil.processors.stack.runner import Stack

    report = Stack.default(run_dir=args.run_dir).status()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, state in report["components"].items():
            endpoints = " ".join(f"{k}={v}" for k, v in state["endpoints"].items() if k != "health")
            print(f"{name:<11} {state['state']:<9} pid={state['pid'] or '-':<8} {endpoints}")
    return 0 if all(s["state"] == "healthy" for s in report["components"].values()) else 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description=__doc__.split("\n", 1)[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the scoring sidecar")
    serve.add_argument("--endpoint", help="OTLP/gRPC listen address (default 127.0.0.1:4327)")
    serve.add_argument("--return-endpoint", help="collector return receiver (default 127.0.0.1:4328)")
    serve.add_argument("--health-endpoint", help="HTTP health and metrics (default 127.0.0.1:13134)")
    serve.add_argument("--scorers", help="comma-separated scorer names, in order")
    serve.set_defaults(func=_serve)

    score = commands.add_parser("score", help="score recorded OTLP/JSON lines offline")
    score.add_argument(
        "input", help="OTLP/JSON lines, as the collector's file exporter writes them (- for stdin)"
    )
    score.add_argument("output", help="where the scored lines go (- for stdout)")
    score.add_argument("--scorers", default="threat", help="comma-separated scorer names (default: threat)")
    score.set_defaults(func=_score)

    for name, func, text in (
        ("up", _up, "start the local stack"),
        ("down", _down, "stop the local stack"),
        ("status", _status, "report the local stack's state"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--run-dir", help="logs, pid files and data (default ~/.local/state/vigil)")
        command.set_defaults(func=func)
        if name == "up":
            command.add_argument("--no-demo", action="store_true", help="skip the demo app and its traffic")
            command.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for health")
        if name == "status":
            command.add_argument("--json", action="store_true", help="machine-readable report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"vigil {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
