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
``vigil score``     scores recorded OTLP/JSON lines offline (:mod:`vigil.processors.replay`);
                    ``--state DIR`` adds the anomaly scorer, starting from saved baselines
``vigil train``     learns anomaly baselines from recorded OTLP/JSON lines into ``--state DIR``
==================  ==========================================================================

The command ships with ``vigil-processors`` (the sidecar's distribution) because every command
is operator-side and needs the sidecar's dependencies anyway; applications install only
``vigil-instrumentation`` and never see it.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vigil.processors.settings import SidecarSettings

if TYPE_CHECKING:
    from vigil.processors.scoring import ScorerChain


def _serve(args: argparse.Namespace) -> int:
    from vigil.processors.server import Sidecar

    settings = SidecarSettings.from_env(
        endpoint=args.endpoint,
        return_endpoint=args.return_endpoint,
        health_endpoint=args.health_endpoint,
        scorers=tuple(args.scorers.split(",")) if args.scorers else None,
    )
    sidecar = Sidecar(settings)
    # Everything loaded so far (scikit-learn, the models, the restored state) lives as long as the
    # process: keep it out of the collector's scans, and collect young objects less often. Each
    # batch makes tens of thousands of short-lived tuples; with the default thresholds the
    # collector cost ~1.7 µs per span, ~1 µs with these.
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)

    def stop(signum: int, _frame: object) -> None:
        logging.getLogger("vigil").info("received %s", signal.Signals(signum).name)
        sidecar.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sidecar.start()
    sidecar.wait()
    return 0


def _offline_chain(names: list[str], state: str | None) -> ScorerChain:
    """The scorers named, in order; with a state directory the anomaly scorer is one of them and
    learns from (and saves to) it."""
    from vigil.processors.scoring import ScorerChain

    if state is not None and "anomaly" not in names:
        names = [*names, "anomaly"]
    scorers = []
    for name in names:
        if name == "anomaly":
            from vigil.processors.anomaly.scorer import AnomalyScorer
            from vigil.processors.anomaly.settings import AnomalySettings

            # Offline, there is no shutdown to save at but the end: save only then.
            settings = AnomalySettings.from_env(state_dir=state, save_interval=float("inf"))
            scorers.append(AnomalyScorer(settings))
        else:
            scorers.extend(ScorerChain.from_names([name]).scorers)
    return ScorerChain(scorers)


def _score(args: argparse.Namespace) -> int:
    from vigil.processors.replay import replay

    chain = _offline_chain([name for name in args.scorers.split(",") if name], args.state)
    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    sink = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    with source, sink:
        report = replay(source, sink, chain)
    chain.close()
    print(
        f"vigil score: {report.scored} requests scored, {report.side_output} events written, "
        f"{len(report.errors)} lines skipped",
        file=sys.stderr,
    )
    return 1 if report.errors else 0


def _train(args: argparse.Namespace) -> int:
    from vigil.processors.replay import ReplayReport, score_lines

    chain = _offline_chain(["anomaly"], args.state)
    report = ReplayReport()
    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    with source:
        for _ in score_lines(source, chain, report):
            pass
    chain.close()
    for message in report.errors:
        print(f"vigil train: {message}", file=sys.stderr)
    print(
        f"vigil train: learnt from {report.scored} requests, {len(report.errors)} lines skipped; "
        f"state in {args.state}",
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
            print(f"{name:<12} {state['state']:<9} pid={state['pid'] or '-':<8} {endpoints}")
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
    score.add_argument(
        "--state",
        help="anomaly state directory (from vigil train or a sidecar): adds the anomaly scorer, "
        "which starts from it, keeps learning, and saves it back at the end",
    )
    score.set_defaults(func=_score)

    train = commands.add_parser("train", help="learn anomaly baselines from recorded OTLP/JSON lines")
    train.add_argument("input", help="OTLP/JSON lines, in time order (- for stdin)")
    train.add_argument("--state", required=True, help="directory to save the baselines in (and start from)")
    train.set_defaults(func=_train)

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
