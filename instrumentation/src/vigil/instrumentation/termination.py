"""The last telemetry of a process stopped with SIGTERM.

SIGTERM's default action ends the process at once: ``atexit`` handlers do not run, so the bounded exit
(:mod:`vigil.instrumentation.shutdown`) never flushes, and whatever the SDK still held is lost: the
spans and logs of the last batch delay (5 s by default) and the metrics of the last export interval.
uvicorn, for one, stops gracefully on SIGTERM and then raises the signal again with the handler it
found, so that the process still ends "by SIGTERM"; with the default handler, every uvicorn process
(the single server, or each worker of ``--workers N``) lost what it recorded last, at every stop,
restart and scale-down (seen here: the spans of the last requests before a stop never arrived).

So when the configurator runs and SIGTERM still has its default action, Vigil installs a handler
that flushes the SDK's providers within ``VIGIL_SHUTDOWN_TIMEOUT`` seconds, as the bounded exit does,
and then ends the process by SIGTERM with the default action, as before: the exit status and the
parent's view stay the same. A handler set by the application or its server (gunicorn sets its own)
replaces Vigil's, and one that was there first is left alone.

Python runs signal handlers in the main thread, between bytecodes: a main thread that is busy inside
one long call of a C extension (not waiting in a system call, where the handler runs at once) takes
the SIGTERM when that call returns.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from vigil.instrumentation.shutdown import sdk_providers, shutdown_within


class FlushThenTerminate:
    """A SIGTERM handler: flush the SDK providers (at most ``timeout`` seconds), then die by SIGTERM."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        shutdown_within(sdk_providers(), self.timeout)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)


def install_flush_on_sigterm(timeout: float) -> bool:
    """Install :class:`FlushThenTerminate` if SIGTERM has its default action; True if installed."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, FlushThenTerminate(timeout))
    return True
