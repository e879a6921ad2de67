"""Saves each server's state (health, maintenance, weight) for the next HAProxy worker: run by
haproxy.service's ExecReload just before the reload signal (pigsalt's drop-in, managed by Salt).

Without it a reload starts every server of the new worker as UP until its first check, so for a
moment a write sent to 5433 can reach a replica. HAProxy reads the file at startup
(``server-state-file``, ``load-server-state-from-file global``); a stop or restart removes it
(ExecStartPre), so a start never applies an old state. Standard library only."""

import os
import socket
import sys

SOCKET = "/run/haproxy/admin.sock"
STATE = "/var/lib/haproxy/server-state"


def main() -> int:
    try:
        with socket.socket(socket.AF_UNIX) as admin:
            admin.settimeout(5)
            admin.connect(SOCKET)
            admin.sendall(b"show servers state\n")
            data = b"".join(iter(lambda: admin.recv(65536), b""))
    except OSError as err:
        # No state to carry (HAProxy not answering): the new worker starts as a fresh one.
        print(f"save-state: {SOCKET}: {err}", file=sys.stderr)
        return 0
    partial = STATE + ".new"
    with open(partial, "wb") as out:
        out.write(data)
    os.replace(partial, STATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
