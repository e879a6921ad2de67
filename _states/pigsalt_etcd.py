"""State module ``pigsalt_etcd``: etcd's RBAC as the inventory describes it (``pigsalt.agent.etcd_auth``).

Compared in-process, then applied only when something differs: a converged member costs a
few requests to its own JSON gateway (``cmd.run`` with an ``unless`` made every run of the
etcd formula load all of Salt's modules, ~1.2 s). No password reaches ``changes`` or the
comment: they name users and roles only.

.. code-block:: yaml

    etcd-auth-applied:
      pigsalt_etcd.auth_applied:
        - name: /etc/etcd/pigsalt-auth.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    # A module, not functions: Salt would publish an imported function as a state of ours.
    from pigsalt.agent import AgentError, etcd_auth
except ImportError as err:  # __virtual__ says so
    _MISSING: str | None = str(err)
else:
    _MISSING = None

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__opts__: dict[str, Any]

__virtualname__ = "pigsalt_etcd"


def __virtual__() -> str | tuple[bool, str]:
    if _MISSING:
        return False, f"pigsalt is not installed in this minion's Python: {_MISSING}"
    return __virtualname__


def auth_applied(name: str) -> dict[str, Any]:
    """The root user, authentication on, and each cluster's user and role as the file ``name``
    (root, 0600) says; ``changes.rbac`` lists what was (or would be) done."""
    ret: dict[str, Any] = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        etcd, root_password, users = etcd_auth.load(Path(name))
        pending = etcd_auth.converge(etcd, root_password, users, check=True)
        if not pending:
            ret["comment"] = "etcd RBAC up to date"
            return ret
        ret["changes"] = {"rbac": {"old": None, "new": pending}}
        if __opts__["test"]:
            ret.update(result=None, comment="etcd RBAC would change: " + "; ".join(pending))
            return ret
        done = etcd_auth.converge(etcd, root_password, users, check=False)
        again, _, _ = etcd_auth.load(Path(name))  # a new session: authentication may be on now
        left = etcd_auth.converge(again, root_password, users, check=True)
    except AgentError as err:
        ret.update(result=False, changes={}, comment=str(err))
        return ret
    if left:
        ret.update(result=False, comment="etcd RBAC still differs after applying: " + "; ".join(left))
        return ret
    ret["comment"] = "; ".join(done)
    return ret
