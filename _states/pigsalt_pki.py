"""State module ``pigsalt_pki``: the local CA's facts on a node, read before they are acted on.

States of their own instead of ``unless`` requisites (``fun: mine.get``,
``fun: x509.verify_private_key``): in Salt 3008 the first ``unless``/``onlyif``/``creates`` of a
state run looks up ``<module>.mod_run_check``, and that lookup loads every state and execution
module (~1.2 s on every node's run, converged or not).

.. code-block:: yaml

    pki-node-pubkey-mine-present:
      pigsalt_pki.mine_present:
        - name: pigsalt_tls_pubkey
        - mine_function: x509.get_public_key
        - key: /etc/pigsalt/tls/node.key

    pki-node-certificate-matches-key:
      pigsalt_pki.certificate_matches_key:
        - name: /etc/pigsalt/tls/node.crt
        - key: /etc/pigsalt/tls/node.key
        - hint: "run pki.sign on meta"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salt.exceptions import CommandExecutionError, SaltInvocationError

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]

__virtualname__ = "pigsalt_pki"


def __virtual__() -> str:
    return __virtualname__


def _ret(name: str) -> dict[str, Any]:
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def mine_present(name: str, mine_function: str, **kwargs: Any) -> dict[str, Any]:
    """The master's mine holds this minion's entry ``name``; otherwise ``mine.send`` sends it
    (``mine_function`` with ``kwargs``). A changed value is sent by the state that changes it
    (``onchanges``); this one puts back an entry the mine lost (a master rebuilt, a flush)."""
    ret = _ret(name)
    kwargs = {k: v for k, v in kwargs.items() if not k.startswith("__")}
    if __salt__["mine.get"](__opts__["id"], name):
        ret["comment"] = f"the mine holds {name} of {__opts__['id']}"
        return ret
    ret["changes"] = {"mine": {"old": None, "new": name}}
    if __opts__["test"]:
        ret.update(result=None, comment=f"{name} would be sent to the mine")
        return ret
    if not __salt__["mine.send"](name, mine_function=mine_function, **kwargs):
        ret.update(result=False, changes={}, comment=f"mine.send {name} ({mine_function}) failed")
        return ret
    ret["comment"] = f"{name} sent to the mine"
    return ret


def certificate_matches_key(name: str, key: str, hint: str = "") -> dict[str, Any]:
    """A check that changes nothing: the certificate ``name`` was issued for the private key
    ``key``; otherwise it fails, saying so (and ``hint``, what to do)."""
    ret = _ret(name)
    try:
        matches = __salt__["x509.verify_private_key"](key, name)
    except (CommandExecutionError, SaltInvocationError) as err:
        matches, why = False, f": {err}"
    else:
        why = ""
    if matches:
        ret["comment"] = f"{name} belongs to {key}"
        return ret
    ret.update(result=False, comment=f"{name} does not belong to {key}{why}" + (f": {hint}" if hint else ""))
    return ret
