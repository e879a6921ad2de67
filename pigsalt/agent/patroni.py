"""A client for Patroni's REST API (Patroni 4.1), standard library only.

Reads (``/patroni``, ``/cluster``, ``/config``) go out without credentials, as HAProxy's health
checks do; the unsafe calls Patroni protects with ``restapi.authentication`` (POST, PATCH) carry
HTTP basic auth. Over ``https://`` the server's certificate is verified against ``cafile`` (the
local CA), its name against the URL's host. Every failure is an ``AgentError`` that names the
request and the cause ("GET https://10.10.10.11:8008/cluster: connection refused"), never the
password.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pigsalt.agent import AgentError

__all__ = ["ClusterStatus", "Member", "NodeStatus", "PatroniClient", "normalise_role", "role_for_hba"]

_T = TypeVar("_T")
# Methods Patroni guards with restapi.authentication.
_UNSAFE = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Roles /cluster gives the member holding the leader lock.
_LEADER_ROLES = frozenset({"leader", "standby_leader"})
_ERROR_TEXT_LIMIT = 300


def normalise_role(role: str) -> str:
    """Patroni's role for a node, with the pre-4.0 name ``master`` spelled ``primary``."""
    return "primary" if role == "master" else role


def role_for_hba(role: str) -> str:
    """The HBA rule set that applies to a node in Patroni ``role``: ``primary`` or ``replica``.

    A standby leader takes the primary's rules: it is where the standby cluster's clients write
    once it is promoted. ``leader`` is how ``/cluster`` names the primary.
    """
    return "primary" if role in {"primary", "master", "standby_leader", "leader"} else "replica"


def _field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"no {key!r} string in {sorted(data)}")
    return value


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class NodeStatus:
    """One node as its own ``GET /patroni`` describes it."""

    name: str
    role: str
    state: str
    pending_restart: bool
    timeline: int | None
    postmaster_start_time: str | None
    server_version: int | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> NodeStatus:
        """Build from the JSON object of ``GET /patroni``; ``ValueError`` when a field is missing."""
        patroni = data.get("patroni")
        if not isinstance(patroni, Mapping):
            raise ValueError(f"no 'patroni' object in {sorted(data)}")
        return cls(
            name=_field(patroni, "name"),
            role=normalise_role(_field(data, "role")),
            state=_field(data, "state"),
            pending_restart=data.get("pending_restart") is True,
            timeline=_opt_int(data.get("timeline")),
            postmaster_start_time=_opt_str(data.get("postmaster_start_time")),
            server_version=_opt_int(data.get("server_version")),
        )


@dataclass(frozen=True)
class Member:
    """One member as ``GET /cluster`` lists it; ``role`` is raw (``leader``, ``replica``, ``sync_standby``…)."""

    name: str
    role: str
    state: str
    host: str | None
    port: int | None
    lag: int | None
    timeline: int | None
    pending_restart: bool

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Member:
        """Build from one entry of ``members``; a lag of ``"unknown"`` (or none, on the leader) is ``None``."""
        return cls(
            name=_field(data, "name"),
            role=_field(data, "role"),
            state=_field(data, "state"),
            host=_opt_str(data.get("host")),
            port=_opt_int(data.get("port")),
            lag=_opt_int(data.get("lag")),
            timeline=_opt_int(data.get("timeline")),
            pending_restart=data.get("pending_restart") is True,
        )


@dataclass(frozen=True)
class ClusterStatus:
    """The cluster as ``GET /cluster`` describes it (read from the DCS by the node asked)."""

    members: tuple[Member, ...]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ClusterStatus:
        """Build from the JSON object of ``GET /cluster``."""
        members = data.get("members")
        if not isinstance(members, list) or not all(isinstance(m, Mapping) for m in members):
            raise ValueError("no 'members' list")
        return cls(members=tuple(Member.from_api(m) for m in members))

    @property
    def leader_member(self) -> Member | None:
        """The member holding the leader lock, whatever its state."""
        return next((m for m in self.members if m.role in _LEADER_ROLES), None)

    @property
    def leader(self) -> str | None:
        """The name of the member holding the leader lock, or ``None``."""
        member = self.leader_member
        return member.name if member else None


class _HTTPStatusError(AgentError):
    """Patroni answered, with a status other than 2xx."""

    def __init__(self, message: str, status: int, text: str) -> None:
        super().__init__(message)
        self.status = status
        self.text = text


def _reason(err: BaseException | str, timeout: float) -> str:
    """A short, lower-case cause for a transport error."""
    if isinstance(err, str):
        return err
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, TimeoutError):
        return f"no answer within {timeout:g} s"
    strerror = getattr(err, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror[0].lower() + strerror[1:]
    return str(err) or type(err).__name__


class PatroniClient:
    """Calls to one Patroni node's REST API at ``base_url`` (e.g. ``https://10.10.10.11:8008``).

    ``cafile``: the CA that signed the server's certificate; without it, Python's default trust
    store verifies ``https://`` URLs.
    """

    def __init__(
        self,
        base_url: str,
        username: str | None,
        password: str | None,
        timeout: float = 10,
        cafile: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self._username = username
        self._password = password
        # No proxy from the environment: the API is on the cluster network, and a proxy would
        # see the credentials.
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if self.base_url.startswith("https://"):
            try:
                context = ssl.create_default_context(cafile=cafile)
            except (OSError, ssl.SSLError) as err:
                raise AgentError(f"{cafile}: cannot load the CA certificate: {_reason(err, 0)}") from None
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"PatroniClient({self.base_url!r}, username={self._username!r})"

    def _scrub(self, text: str) -> str:
        """``text`` from the server without the password, should the server echo it."""
        if self._password:
            text = text.replace(self._password, "********")
        return text

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> tuple[str, bytes]:
        """Send one request; the label (``METHOD url``) and the body of a 2xx answer."""
        url = self.base_url + path
        what = f"{method} {url}"
        wait = self.timeout if timeout is None else timeout
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if method in _UNSAFE and self._username is not None and self._password is not None:
            token = base64.b64encode(f"{self._username}:{self._password}".encode()).decode()
            # Unredirected: a redirect must not carry the credentials elsewhere.
            request.add_unredirected_header("Authorization", f"Basic {token}")
        try:
            with self._opener.open(request, timeout=wait) as answer:
                return what, answer.read()
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace").strip()[:_ERROR_TEXT_LIMIT]
            status = f"HTTP {err.code} {err.reason}".strip()
            text = self._scrub(text)
            raise _HTTPStatusError(f"{what}: {status}" + (f": {text}" if text else ""), err.code, text) from err
        except urllib.error.URLError as err:
            raise AgentError(f"{what}: {_reason(err.reason, wait)}") from err
        except (OSError, http.client.HTTPException) as err:
            raise AgentError(f"{what}: {_reason(err, wait)}") from err

    def _object(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Send one request whose answer must be a JSON object; the label and the object."""
        what, raw = self._request(method, path, body, timeout)
        try:
            data = json.loads(raw)
        except ValueError:
            snippet = self._scrub(repr(raw[:80]))
            raise AgentError(f"{what}: answer is not JSON: {snippet}") from None
        if not isinstance(data, dict):
            raise AgentError(f"{what}: answer is not a JSON object")
        return what, data

    def _build(self, path: str, build: Callable[[Mapping[str, Any]], _T], timeout: float | None = None) -> _T:
        what, data = self._object("GET", path, timeout=timeout)
        try:
            return build(data)
        except ValueError as err:
            raise AgentError(f"{what}: unexpected answer: {err}") from None

    def node(self) -> NodeStatus:
        """This node's status (``GET /patroni``)."""
        return self._build("/patroni", NodeStatus.from_api)

    def cluster(self) -> ClusterStatus:
        """The cluster's members and leader (``GET /cluster``)."""
        return self._build("/cluster", ClusterStatus.from_api)

    def config(self) -> dict[str, Any]:
        """The cluster's dynamic configuration (``GET /config``)."""
        return self._object("GET", "/config")[1]

    def patch_config(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the dynamic configuration (``null`` removes a key); the new configuration."""
        return self._object("PATCH", "/config", changes)[1]

    def reload(self) -> None:
        """Have Patroni re-read its configuration file (``POST /reload``)."""
        self._request("POST", "/reload")

    def restart(self, pending_only: bool = False, *, timeout: float = 120) -> None:
        """Restart Postgres on this node (``POST /restart``), only if a restart is pending when asked.

        Patroni answers once Postgres is back (hence the long ``timeout``); with ``pending_only``
        and nothing pending it answers 503 "restart conditions are not satisfied".
        """
        body = {"restart_pending": True} if pending_only else {}
        self._request("POST", "/restart", body, timeout=timeout)

    def switchover(self, leader: str, candidate: str | None, *, timeout: float = 60) -> str:
        """Ask Patroni to hand the leader lock from ``leader`` to ``candidate`` (Patroni picks when ``None``).

        Patroni watches the DCS for about twenty seconds before it answers, with the outcome
        ("Successfully switched over to …"). When it stopped watching first it answers
        503 "Switchover status unknown": that message is returned, not raised, since the
        switchover may still complete; the caller waits on ``/cluster`` either way.
        """
        body: dict[str, Any] = {"leader": leader}
        if candidate is not None:
            body["candidate"] = candidate
        try:
            _what, raw = self._request("POST", "/switchover", body, timeout=timeout)
        except _HTTPStatusError as err:
            if err.status == 503 and err.text.endswith("status unknown"):
                return err.text
            raise
        return raw.decode("utf-8", "replace").strip()

    def wait_leader(self, expect: str | None, not_: str | None, timeout: float, interval: float = 1) -> str:
        """Poll ``/cluster`` until a leader is running, named ``expect`` and not ``not_`` when given; its name."""
        wanted = "a running leader"
        if expect is not None:
            wanted += f" named {expect}"
        if not_ is not None:
            wanted += f" other than {not_}"
        deadline = time.monotonic() + float(timeout)
        last = "nothing yet"
        while True:
            remaining = deadline - time.monotonic()
            try:
                status = self._build("/cluster", ClusterStatus.from_api, max(0.5, min(self.timeout, remaining)))
            except AgentError as err:
                last = str(err)
            else:
                member = status.leader_member
                if member is None:
                    last = "no leader"
                else:
                    last = f"leader {member.name} ({member.state})"
                    if (
                        member.state == "running"
                        and (expect is None or member.name == expect)
                        and (not_ is None or member.name != not_)
                    ):
                        return member.name
            if time.monotonic() >= deadline:
                raise AgentError(f"{wanted}: not there after {timeout:g} s (last: {last})")
            time.sleep(min(float(interval), max(0.0, deadline - time.monotonic())))
