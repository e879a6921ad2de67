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

    pki-issued-node-1-certificate-managed:
      pigsalt_pki.certificate_managed:      # x509.certificate_managed's arguments
        - name: /etc/pki/pigsalt/issued/node-1.crt
        - signing_private_key: /etc/pki/pigsalt/ca.key
        - days_valid: 365
        - days_remaining: 30
        - mode: '0644'
"""

from __future__ import annotations

import grp
import inspect
import os
import pwd
import stat
from collections.abc import Callable
from typing import Any

import salt.states.x509_v2
import salt.utils.x509 as x509util
from salt.exceptions import CommandExecutionError, SaltInvocationError

# Set by Salt's loader before any function here runs (ruff.toml lists them as builtins).
__salt__: dict[str, Callable[..., Any]]
__opts__: dict[str, Any]
__states__: dict[str, Callable[..., dict[str, Any]]]

__virtualname__ = "pigsalt_pki"

# The file arguments the quick path checks itself (show_changes, which split_file_kwargs always
# adds, only shapes the output); any other one goes to x509's file.managed.
QUICK_FILE_ARGS = frozenset({"user", "group", "mode", "show_changes"})
IN_PLACE = "The certificate is in the correct state"
KEY_IN_PLACE = "The private key is in the correct state"
KEY_TYPES = {"ec": x509util.KEY_TYPE.EC, "rsa": x509util.KEY_TYPE.RSA}
DEFAULT_KEYSIZE = {"ec": 256, "rsa": 2048}


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


def _file_as_asked(name: str, file_args: dict[str, Any]) -> bool:
    """``name`` is a regular file (not a link) with the owner, group and mode asked, if asked."""
    if set(file_args) - QUICK_FILE_ARGS:
        return False
    try:
        found = os.lstat(name)
        owner, group = pwd.getpwuid(found.st_uid).pw_name, grp.getgrgid(found.st_gid).gr_name
    except (OSError, KeyError):
        return False
    mode = file_args.get("mode")
    return (
        stat.S_ISREG(found.st_mode)
        and file_args.get("user", owner) == owner
        and file_args.get("group", group) == group
        and (mode is None or stat.S_IMODE(found.st_mode) == int(str(mode), 8))
    )


def _certificate_in_place(name: str, kwargs: dict[str, Any]) -> bool:
    """What ``x509.certificate_managed`` compares, compared the same way (Salt's own
    ``check_cert_changes``, which salt-ssh's wrapper shares), without the ``state.single
    file.managed`` that the state runs first to test the file's mode (~100 ms, a whole new
    state run, for each certificate). False whenever it cannot tell."""
    signature = inspect.signature(salt.states.x509_v2.certificate_managed)
    try:
        args = signature.bind(name, **kwargs).arguments
    except TypeError:
        return False
    var_kw = next(p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD)
    extra = x509util.ensure_cert_kwargs_compat(dict(args.pop(var_kw, {})))
    file_args, cert_args = x509util.split_file_kwargs(extra)
    # Only the explicit validity (Salt 3008 warns and picks a default otherwise) and PEM files.
    if args.get("days_remaining") is None or (args.get("days_valid") is None and args.get("not_after") is None):
        return False
    if args.get("encoding", "pem") != "pem" or not _file_as_asked(name, file_args):
        return False
    try:
        policy = __salt__["x509.get_signing_policy"](args.get("signing_policy"), ca_server=args.get("ca_server"))
        _, changes, replace, _ = x509util.check_cert_changes(
            name,
            days_remaining=args["days_remaining"],
            days_valid=args.get("days_valid"),
            not_before=args.get("not_before"),
            not_after=args.get("not_after"),
            ca_server=args.get("ca_server"),
            signing_policy_contents=policy,
            encoding="pem",
            append_certs=args.get("append_certs") or [],
            digest=args.get("digest", "sha256"),
            signing_private_key=args.get("signing_private_key"),
            signing_private_key_passphrase=args.get("signing_private_key_passphrase"),
            signing_cert=args.get("signing_cert"),
            public_key=args.get("public_key"),
            private_key=args.get("private_key"),
            private_key_passphrase=args.get("private_key_passphrase"),
            csr=args.get("csr"),
            subject=args.get("subject"),
            serial_number=args.get("serial_number"),
            **cert_args,
        )
    except Exception:  # anything it cannot read or compare is x509's to report
        return False
    return not changes and not replace


def certificate_managed(name: str, **kwargs: Any) -> dict[str, Any]:
    """Salt's ``x509.certificate_managed`` with the same arguments; a certificate already in
    place (as x509 compares it, with the file's owner, group and mode as asked) is told without
    x509's file.managed test run, and anything else is x509's to do."""
    args = {k: v for k, v in kwargs.items() if not k.startswith("__")}
    if _certificate_in_place(name, args):
        return {**_ret(name), "comment": IN_PLACE}
    return __states__["x509.certificate_managed"](name, **kwargs)


def _key_in_place(name: str, algo: str, keysize: int | None, kwargs: dict[str, Any]) -> bool:
    """What ``x509.private_key_managed`` compares for an unencrypted PEM key of ``algo`` (EC or
    RSA): the file holds such a key of the size asked, with the owner, group and mode asked
    (x509's own default mode, 0400, when none is). False whenever it cannot tell."""
    file_args, extra = x509util.split_file_kwargs(kwargs)
    if extra or algo not in KEY_TYPES:
        return False
    if not _file_as_asked(name, {"mode": "0400", **file_args}):
        return False
    try:
        current, encoding, _ = x509util.load_privkey(name, passphrase=None, get_encoding=True)
    except Exception:  # encrypted, not a key, unreadable: x509's to report or fix
        return False
    return bool(
        encoding == "pem"
        and x509util.get_key_type(current) == KEY_TYPES[algo]
        and current.key_size == (keysize or DEFAULT_KEYSIZE[algo])
    )


def private_key_managed(name: str, algo: str = "rsa", keysize: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """Salt's ``x509.private_key_managed`` with the same arguments; an unencrypted PEM key
    already in place is told without x509's file.managed test run, anything else is x509's."""
    args = {k: v for k, v in kwargs.items() if not k.startswith("__")}
    quick = not {"passphrase", "new", "overwrite", "encoding", "pkcs12_encryption_compat"} & set(args)
    if quick and _key_in_place(name, algo, keysize, args):
        return {**_ret(name), "comment": KEY_IN_PLACE}
    return __states__["x509.private_key_managed"](name, algo=algo, keysize=keysize, **kwargs)
