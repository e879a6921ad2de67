"""pigsalt's ext_pillar: each minion's derived pillar, computed from the inventory on the master.

Master configuration (written by ``pigsalt master setup``)::

    ext_pillar:
      - pigsalt:
          inventory: /srv/pigsalt/inventory   # a pillar directory or a pigsty.yml
          secrets: /srv/pigsalt/inventory/secrets.yml   # optional

With ``source: cmdb`` the inventory is pg-meta's CMDB instead (``pigsalt.cmdb.source``: a dump
cached under the master's cachedir, asked again at most every 10 s; ``inventory`` then only
says where pg-meta is and how to log in, and the secrets store stays beside it). Switch with
``pigsalt master setup --pillar-source cmdb`` after ``pigsalt cmdb load`` (docs/cmdb.md).

The minion id is matched against node names, IPs and instance names. A minion that is not in
the inventory gets no ``pigsty`` pillar. An invalid inventory raises, which Salt turns into a
pillar error: every state run refuses to start instead of applying half a change.

Each master worker process parses the inventory once per change of its files and compiles
every minion's pillar from that (``pigsalt.pillar.cache``): a refresh of the whole fleet costs
one parse per worker, not one per minion.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__virtualname__ = "pigsalt"


def __virtual__() -> str | tuple[bool, str]:
    try:
        import pigsalt.pillar.cache  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the master's environment
        return False, f"the pigsalt package cannot be imported: {err}"
    return __virtualname__


# The CMDB sources of this master process, by inventory path.
_CMDB: dict[str, Any] = {}


def _cmdb_inventory(inventory: str) -> Path:
    from pigsalt.cmdb.source import Source

    source = _CMDB.get(inventory)
    if source is None:
        cache = Path(__opts__.get("cachedir") or "/var/cache/salt/master") / "pigsalt-cmdb"  # type: ignore[name-defined]
        source = _CMDB.setdefault(inventory, Source(Path(inventory), cache))
    return Path(source.current())


def ext_pillar(
    minion_id: str, pillar: dict[str, Any], inventory: str, secrets: str | None = None, source: str = "files"
) -> dict[str, Any]:
    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import UnknownNode
    from pigsalt.pillar import secrets as secret_store
    from pigsalt.pillar.cache import node_pillar

    if source not in ("files", "cmdb"):
        raise RuntimeError(f"pigsalt ext_pillar: source {source!r} is not one of files, cmdb")
    try:
        secrets_file = Path(secrets) if secrets else secret_store.secrets_path(Path(inventory))
        compiled = _cmdb_inventory(inventory) if source == "cmdb" else Path(inventory)
        data = node_pillar(compiled, minion_id, secrets_file)
    except UnknownNode:
        log.debug("pigsalt: minion %s is not in the inventory %s", minion_id, inventory)
        return {}
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory {inventory}: {err.message}") from None
    return data
