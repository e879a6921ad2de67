"""Kernel and limits profiles for ``node_tune`` (oltp, olap, crit, tiny).

Applied by the node formula where the kernel lets the node change them (not inside a
container, where these settings belong to the host).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_COMMON = {"net.core.somaxconn": 65535, "net.ipv4.tcp_max_syn_backlog": 8192, "fs.file-max": 2097152}

SYSCTL: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        # Many short transactions: keep memory resident, write back early and often.
        "oltp": {**_COMMON, "vm.swappiness": 0, "vm.dirty_background_ratio": 5, "vm.dirty_ratio": 10},
        # Large scans and sorts: let more dirty pages accumulate.
        "olap": {**_COMMON, "vm.swappiness": 10, "vm.dirty_background_ratio": 10, "vm.dirty_ratio": 40},
        # Correctness first: no overcommit, smallest write-back windows.
        "crit": {
            **_COMMON,
            "vm.swappiness": 0,
            "vm.dirty_background_ratio": 2,
            "vm.dirty_ratio": 5,
            "vm.overcommit_memory": 2,
            "vm.overcommit_ratio": 90,
        },
        # Small machines and sandboxes.
        "tiny": {"net.core.somaxconn": 4096, "vm.swappiness": 10},
    }
)

LIMITS: Mapping[str, int] = MappingProxyType({"nofile": 65536, "nproc": 65536})


def sysctl(tune: str) -> dict[str, int]:
    return dict(sorted(SYSCTL[tune].items()))
