"""State module ``pigsalt_node``: small facts of a node's baseline, each read before it is set.

States of their own instead of ``cmd.run`` with ``unless``/``onlyif``: in Salt 3008 the first
such requisite of a state run looks up ``<module>.mod_run_check``, which ``cmd`` lacks, and the
lookup loads every state and execution module (~1.2 s of a node's CPU on every run, converged
or not). These ask the kernel or ``nft`` directly.

.. code-block:: yaml

    node-hostname-set:
      pigsalt_node.hostname:
        - name: node-1

    node-firewall-table-loaded:
      pigsalt_node.nft_table_loaded:
        - name: pigsalt
        - file: /etc/pigsalt/firewall.nft

    repo-release-copy-fetched:
      pigsalt_node.copy_fetched:
        - name: /var/lib/apt/pigsalt.InRelease
        - source: http://repo.pigsty/apt/trixie/InRelease
"""

from __future__ import annotations

import os
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]

__virtualname__ = "pigsalt_node"

NFT = "/usr/sbin/nft"


def __virtual__() -> str:
    return __virtualname__


def _run(*argv: str) -> dict[str, Any]:
    result: dict[str, Any] = __salt__["cmd.run_all"](list(argv), python_shell=False, ignore_retcode=True, timeout=60)
    return result


def _said(done: dict[str, Any]) -> str:
    lines = str(done.get("stderr") or done.get("stdout") or "").strip().splitlines()
    return lines[-1] if lines else f"exit {done.get('retcode')}"


def _ret(name: str) -> dict[str, Any]:
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def hostname(name: str) -> dict[str, Any]:
    """The running kernel's host name is ``name`` (``/etc/hostname`` is a file state's)."""
    ret = _ret(name)
    have = socket.gethostname()
    if have == name:
        ret["comment"] = f"the host name is {name}"
        return ret
    ret["changes"] = {"hostname": {"old": have, "new": name}}
    if __opts__["test"]:
        ret.update(result=None, comment=f"the host name would be set to {name}")
        return ret
    done = _run("hostname", name)
    now = socket.gethostname()
    if done["retcode"] != 0 or now != name:
        ret.update(result=False, changes={}, comment=f"hostname {name}: {_said(done)} (the host name is {now})")
        return ret
    ret["comment"] = f"the host name was set to {name}"
    return ret


def _table_loaded(name: str) -> bool:
    return bool(_run(NFT, "list", "table", "inet", name)["retcode"] == 0)


def nft_table_loaded(name: str, file: str) -> dict[str, Any]:
    """The nftables table ``inet <name>`` is loaded; when it is not (deleted by hand), ``file``
    (which defines it) is loaded again."""
    ret = _ret(name)
    if _table_loaded(name):
        ret["comment"] = f"table inet {name} is loaded"
        return ret
    ret["changes"] = {"table": {"old": None, "new": f"inet {name} from {file}"}}
    if __opts__["test"]:
        ret.update(result=None, comment=f"table inet {name} would be loaded from {file}")
        return ret
    done = _run(NFT, "--file", file)
    if done["retcode"] != 0 or not _table_loaded(name):
        ret.update(result=False, changes={}, comment=f"nft --file {file}: {_said(done)}")
        return ret
    ret["comment"] = f"table inet {name} loaded from {file}"
    return ret


def copy_fetched(name: str, source: str, timeout: float = 30) -> dict[str, Any]:
    """File ``name`` (root, 0644) holds what ``source`` (``http://``, ``https://`` or ``file://``)
    serves now, byte for byte: fetched on every run and written only when it differs.

    Salt's ``file.managed`` with ``skip_verify`` keeps the copy it cached the first time and never
    fetches the source again, so a node never saw a rebuilt repository's new InRelease (and never
    fetched its package lists again). The copy's change is what ``apt-get update`` waits on."""
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        with urllib.request.urlopen(source, timeout=timeout) as answer:
            served = answer.read()
    except (urllib.error.URLError, OSError) as err:
        ret.update(result=False, comment=f"{source}: {getattr(err, 'reason', err)}")
        return ret
    path = Path(name)
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        current = None
    if current == served:
        ret["comment"] = f"{name} is what {source} serves"
        return ret
    ret["changes"] = {"fetched": {"old": None if current is None else "an older copy", "new": source}}
    if __opts__["test"]:
        ret.update(result=None, comment=f"{name} would be fetched again from {source}")
        return ret
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(served)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as err:
        Path(temporary).unlink(missing_ok=True)
        ret.update(result=False, changes={}, comment=f"{name}: {err}")
        return ret
    ret["comment"] = f"{name} fetched again from {source}"
    return ret
