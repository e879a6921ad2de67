"""What differs between the Debian releases a node can run, as the pillar the states take.

The formulas name no release: package names, paths and version-dependent settings come from
here, so a difference between Debian 12 and 13 is one line of Python and a unit test, never a
Jinja branch.
"""

from __future__ import annotations

from typing import Any

from pigsalt.debian import Release
from pigsalt.wheellock import WheelLock

#: What ``pigsalt.agent.wheels`` installs into Patroni's virtualenv (pgsql.install): Patroni with
#: its etcd client, and psycopg 3 (binary); each is pinned to the wheel lock's version.
PATRONI_REQUIREMENTS = ("patroni[etcd3]", "psycopg[binary]")


def node_os(release: Release) -> dict[str, Any]:
    """``pigsty:node:os``: which release the node must run (``node.os`` checks the grains)."""
    return {"name": release.name, "codename": release.codename, "major": release.number, "python": release.python}


def postgres(release: Release, version: int) -> dict[str, Any]:
    """The packages and binaries of PostgreSQL ``version`` on ``release``."""
    return {
        "packages": [f"postgresql-{version}", f"postgresql-client-{version}"],
        "bin_dir": f"/usr/lib/postgresql/{version}/bin",
    }


def patroni(release: Release, lock: WheelLock) -> dict[str, Any]:
    """The Patroni a node installs from the wheelhouse: the version the wheel lock holds for the
    node's Python (the wheelhouse holds that one only), and the pinned requirements to install."""
    part = lock.python(release.python)
    return {
        "version": part.version("patroni"),
        "requirements": [f"{req}=={part.version(req.split('[', 1)[0])}" for req in PATRONI_REQUIREMENTS],
    }


def pgbouncer_settings(release: Release) -> dict[str, Any]:
    """Settings of pgbouncer.ini that only some Pgbouncer series know (1.18 refuses an unknown key).

    1.21+ tracks protocol-level prepared statements in transaction pooling; 1.24's default is
    200 per server connection. It is written out so the value is the same whatever the default.
    """
    if _series(release.pgbouncer) >= (1, 21):
        return {"max_prepared_statements": 200}
    return {}


def pgbouncer_exporter(release: Release) -> dict[str, Any]:
    """Which Pgbouncer exporter the node runs: its systemd unit, and the Debian package if any.

    Debian 13's Go ``prometheus-pgbouncer-exporter`` (0.10) reads Pgbouncer 1.24. Debian 12's
    1.7 dies on Pgbouncer 1.18's SHOW STATS, so there pigsalt runs its own
    (``pigsalt.agent.pgbouncer_exporter``), which exports the Go exporter's metric names.
    """
    if release.number >= 13:
        return {"unit": "prometheus-pgbouncer-exporter", "package": "prometheus-pgbouncer-exporter"}
    return {"unit": "pigsalt-pgbouncer-exporter", "package": None}


def _series(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
