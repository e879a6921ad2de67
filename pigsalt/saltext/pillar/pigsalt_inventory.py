"""pigsalt's ext_pillar: each minion's derived pillar, computed from the inventory on the master.

Master configuration (written by ``pigsalt master setup``)::

    ext_pillar:
      - pigsalt:
          inventory: /srv/pigsalt/inventory   # a pillar directory or a pigsty.yml
          secrets: /srv/pigsalt/inventory/secrets.yml   # optional

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


def ext_pillar(minion_id: str, pillar: dict[str, Any], inventory: str, secrets: str | None = None) -> dict[str, Any]:
    from pigsalt.errors import PigsaltError
    from pigsalt.inventory.model import UnknownNode
    from pigsalt.pillar.cache import node_pillar

    try:
        data = node_pillar(Path(inventory), minion_id, Path(secrets) if secrets else None)
    except UnknownNode:
        log.debug("pigsalt: minion %s is not in the inventory %s", minion_id, inventory)
        return {}
    except PigsaltError as err:
        raise RuntimeError(f"pigsalt inventory {inventory}: {err.message}") from None
    return data
