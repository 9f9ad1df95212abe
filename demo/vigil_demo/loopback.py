"""Recognising loopback hosts.

The demo app includes a deliberately injectable endpoint and the traffic generator sends
login attempts, so both refuse to be pointed anywhere but this machine: the app will only
listen on, and the generator only send to, a host this module accepts.
"""

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost``, an address in 127.0.0.0/8, or ``::1``.

    Other names are refused rather than resolved, since what a name resolves to can change.
    ``host`` may be an IPv6 address with or without its URL brackets.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
