"""make bench-pillar: load, validate and compile an inventory of 1,000 clusters x 3 nodes.

Prints wall seconds for each phase and the process's peak resident memory. Target (issue #2):
under 2 s and 200 MB on a 2-core machine.

Then the whole-fleet refresh: every minion's pillar through pigsalt's ext_pillar, loaded by
Salt's loader and called as the master calls it, one minion after the other in one process,
from the pillar directory ``pigsalt pillar build`` writes (what ``pigsalt master setup``
configures) and from the single file. Target (issue #11): under 30 s.
"""

from __future__ import annotations

import ipaddress
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

from pigsalt.inventory.model import check
from pigsalt.pillar import cache, secrets
from pigsalt.pillar.build import build
from pigsalt.pillar.compile import compile_all, needed_secrets

CLUSTERS = 1000
MEMBERS = 3


def inventory(clusters: int = CLUSTERS) -> dict:
    base = int(ipaddress.IPv4Address("10.20.0.0"))
    children: dict = {"meta": {"hosts": {"10.10.10.10": {"nodename": "meta"}}}}
    for c in range(clusters):
        name = f"pg-c{c:04d}"
        first = base + 4 * c
        hosts = {
            str(ipaddress.IPv4Address(first + m)): {"pg_seq": m + 1, "pg_role": "primary" if m == 0 else "replica"}
            for m in range(MEMBERS)
        }
        children[name] = {
            "hosts": hosts,
            "vars": {
                "pg_cluster": name,
                "vip_mode": "l2",
                "vip_address": str(ipaddress.IPv4Address(first + 3)),
                "vip_cidrmask": 16,
                "pg_users": [{"name": "app", "password": "App.Pass", "pgbouncer": True, "roles": ["dbrole_readwrite"]}],
                "pg_databases": [{"name": "app", "owner": "app"}],
            },
        }
    return {"all": {"vars": {"pg_rto": 30}, "children": children}}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fleet_refresh(inventory: Path, minions: list[str], tmp: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds for every minion's pillar through the ext_pillar, as the master
    calls it, and the wall seconds of the first minion's (it parses the inventory); each
    pillar is checked to be the minion's."""
    import salt.config
    import salt.loader

    opts = salt.config.master_config(None)
    opts.update({"cachedir": str(tmp / "cache"), "extension_modules": str(tmp / "ext")})
    ext_pillar = salt.loader.pillars(opts, {})["pigsalt"]
    cache.CACHE.clear()
    w0, c0 = time.perf_counter(), time.process_time()
    first = 0.0
    for minion in minions:
        data = ext_pillar(minion, {}, inventory=str(inventory), secrets=None)
        assert data["pigsty"]["node"]["name"] == minion, minion
        first = first or time.perf_counter() - w0
    assert cache.CACHE.loads == 1, cache.CACHE.loads
    return time.perf_counter() - w0, time.process_time() - c0, first


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pigsty.yml"
        path.write_text(yaml.safe_dump(inventory(), sort_keys=False))
        start_mb = peak_mb()
        t0 = time.perf_counter()
        loaded = check(path)
        t1 = time.perf_counter()
        assert loaded.inventory is not None, loaded.report.errors[:3]
        inv = loaded.inventory
        values, _ = secrets.create(Path(tmp) / "secrets.yml", needed_secrets(inv))
        pillars = compile_all(inv, values)
        t2 = time.perf_counter()
        compile_mb = peak_mb()
        out = Path(tmp) / "pillar"
        build(path, out)
        minions = [node.name for node in inv.nodes]
        refresh = {
            layout: fleet_refresh(where, minions, Path(tmp)) for layout, where in (("directory", out), ("file", path))
        }
    nodes = len(pillars)
    print(f"inventory: {CLUSTERS} clusters x {MEMBERS} nodes + 1 meta node = {nodes} nodes")
    print(f"load + validate + model: {t1 - t0:.2f} s")
    print(f"compile every node's pillar: {t2 - t1:.2f} s")
    print(f"total: {t2 - t0:.2f} s")
    print(f"peak RSS: {compile_mb:.0f} MB (interpreter and imports before the run: {start_mb:.0f} MB)")
    for layout, (wall, cpu, first) in refresh.items():
        rest = (wall - first) / (len(minions) - 1) * 1000
        print(
            f"fleet refresh through the ext_pillar, {len(minions)} minions ({layout}): {wall:.1f} s "
            f"({cpu:.1f} s CPU); the first (parses the inventory) {first:.1f} s, then {rest:.1f} ms per minion"
        )
    print(f"peak RSS after the refreshes: {peak_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
