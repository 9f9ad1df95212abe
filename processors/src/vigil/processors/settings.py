"""The sidecar's settings, read once from the environment (see :mod:`environment_variables`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from vigil.processors import environment_variables as ev


def split_list(value: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_bool(value: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off), case-insensitive."""
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


def read_environ(
    sources: Mapping[str, tuple[str, Callable[[str], object]]], environ: Mapping[str, str]
) -> dict[str, object]:
    """``{setting: parsed value}`` for each ``setting: (variable, parse)`` whose variable is set
    and not blank; a value that does not parse raises ValueError naming the variable."""
    values: dict[str, object] = {}
    for name, (variable, parse) in sources.items():
        raw = environ.get(variable, "").strip()
        if raw:
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                raise ValueError(f"{variable}={raw!r}: {exc}") from None
    return values


@dataclass(frozen=True)
class SidecarSettings:
    endpoint: str = "127.0.0.1:4327"
    return_endpoint: str = "127.0.0.1:4328"
    health_endpoint: str = "127.0.0.1:13134"
    max_message_bytes: int = 64 * 1024 * 1024
    forward_timeout: float = 4.0
    workers: int = 8
    max_concurrent_rpcs: int = 64
    shutdown_grace: float = 15.0
    scorers: tuple[str, ...] = field(default=())
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    return_tls_ca_file: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> SidecarSettings:
        """Defaults, then ``VIGIL_SIDECAR_*`` variables, then ``overrides`` that are not None."""
        environ = os.environ if environ is None else environ
        sources = {
            "endpoint": (ev.VIGIL_SIDECAR_ENDPOINT, str),
            "return_endpoint": (ev.VIGIL_SIDECAR_RETURN_ENDPOINT, str),
            "health_endpoint": (ev.VIGIL_SIDECAR_HEALTH_ENDPOINT, str),
            "max_message_bytes": (ev.VIGIL_SIDECAR_MAX_MESSAGE_BYTES, int),
            "forward_timeout": (ev.VIGIL_SIDECAR_FORWARD_TIMEOUT, float),
            "workers": (ev.VIGIL_SIDECAR_WORKERS, int),
            "max_concurrent_rpcs": (ev.VIGIL_SIDECAR_MAX_CONCURRENT_RPCS, int),
            "shutdown_grace": (ev.VIGIL_SIDECAR_SHUTDOWN_GRACE, float),
            "scorers": (ev.VIGIL_SIDECAR_SCORERS, split_list),
            "tls_cert_file": (ev.VIGIL_SIDECAR_TLS_CERT_FILE, str),
            "tls_key_file": (ev.VIGIL_SIDECAR_TLS_KEY_FILE, str),
            "tls_client_ca_file": (ev.VIGIL_SIDECAR_TLS_CLIENT_CA_FILE, str),
            "return_tls_ca_file": (ev.VIGIL_SIDECAR_RETURN_TLS_CA_FILE, str),
        }
        values = read_environ(sources, environ)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return cls(**values)  # type: ignore[arg-type]
