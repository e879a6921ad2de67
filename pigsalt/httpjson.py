"""JSON over HTTP(S) from the deployment's own services at node addresses (Patroni's REST API,
Prometheus): never through a proxy the environment names (``https_proxy`` is for the outside
world, not for 10.10.10.x), HTTPS verified against ``cafile`` (the local CA) or, without one,
the system's CAs."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["Fetch", "fetcher"]

#: GET a URL, return its JSON body; raises OSError (ssl.SSLError, URLError) or ValueError.
Fetch = Callable[[str], Any]


def fetcher(cafile: str | None, timeout: float) -> Fetch:
    """A ``Fetch`` with its own opener; making it raises OSError when ``cafile`` is unreadable."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)),
    )

    def fetch(url: str) -> Any:
        with opener.open(url, timeout=timeout) as answer:
            return json.loads(answer.read())

    return fetch
