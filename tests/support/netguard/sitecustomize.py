"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests only).

Records, as JSON lines in $NETGUARD_LOG, every attempt to reach a
non-loopback address (socket connect/sendto, DNS look-ups of other hosts).
With $NETGUARD_BLOCK=1 such attempts also fail, so nothing can leave.
"""

import ipaddress
import json
import os
import sys

_LOG = os.environ.get("NETGUARD_LOG")
_BLOCK = os.environ.get("NETGUARD_BLOCK") == "1"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "", None}


def _is_local(host):
    if host in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _record(event, target):
    with open(_LOG, "a") as fh:
        fh.write(json.dumps({"event": event, "target": repr(target), "pid": os.getpid()}) + "\n")


def _hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1] if len(args) > 1 else None
        if isinstance(address, tuple) and address and not _is_local(address[0]):
            _record(event, address)
            if _BLOCK:
                raise ConnectionRefusedError(f"netguard: {address} is not loopback")
    elif event == "socket.getaddrinfo":
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if not _is_local(host) and host != os.uname().nodename:
            _record(event, host)
            if _BLOCK:
                raise OSError(f"netguard: look-up of {host} refused")


if _LOG:
    sys.addaudithook(_hook)
