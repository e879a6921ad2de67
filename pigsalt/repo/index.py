"""The package index (PyPI), over HTTPS: a project's files (the JSON simple API, PEP 691) and one
file's bytes, checked against the SHA-256 the lock holds.

It trusts what pip trusts here: the system's CAs, or the bundle ``PIP_CERT`` names (a TLS proxy's).
Proxies come from the environment (``https_proxy``), as for pip.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

from pigsalt.errors import PigsaltError
from pigsalt.wheellock import normalize

PYPI = "https://pypi.org/simple"
_JSON = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 60.0

#: Open a request, with a timeout: ``urllib.request.urlopen`` with the index's TLS context, or a fake.
Opener = Callable[[urllib.request.Request, float], IO[bytes]]


@dataclass(frozen=True)
class IndexFile:
    """One file of a project, as the index lists it."""

    filename: str
    url: str
    sha256: str
    requires_python: str | None = None
    yanked: bool = False


def https_opener() -> Opener:
    """``urlopen`` verifying certificates against the system's CAs (or ``PIP_CERT``'s bundle)."""
    context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)

    def open_url(request: urllib.request.Request, timeout: float) -> IO[bytes]:
        answer: IO[bytes] = urllib.request.urlopen(request, timeout=timeout, context=context)
        return answer

    return open_url


class PackageIndex:
    """A PEP 691 index at ``url`` (https:// only)."""

    def __init__(self, url: str = PYPI, *, opener: Opener | None = None, timeout: float = TIMEOUT) -> None:
        if not url.startswith("https://"):
            raise PigsaltError(f"the package index must be reached over HTTPS, not {url}")
        self.url = url.rstrip("/")
        self.open = opener or https_opener()
        self.timeout = timeout

    def files(self, project: str) -> list[IndexFile]:
        """Every file the index lists for ``project``."""
        page = f"{self.url}/{normalize(project)}/"
        request = urllib.request.Request(page, headers={"Accept": _JSON})
        try:
            with self.open(request, self.timeout) as answer:
                data: Any = json.loads(answer.read())
        except urllib.error.HTTPError as err:
            raise PigsaltError(f"{page}: {err.code} {err.reason}") from err
        except (OSError, ValueError) as err:
            raise PigsaltError(f"{page}: {getattr(err, 'reason', None) or err}") from err
        try:
            return [
                IndexFile(
                    filename=str(item["filename"]),
                    url=urljoin(page, str(item["url"])),
                    sha256=str(item["hashes"]["sha256"]),
                    requires_python=item.get("requires-python") or None,
                    yanked=bool(item.get("yanked")),
                )
                for item in data["files"]
                if "sha256" in item.get("hashes", {})
            ]
        except (KeyError, TypeError) as err:
            raise PigsaltError(f"{page}: not a PEP 691 project page ({err})") from err

    def fetch(self, url: str, dest: Path, sha256: str) -> Path:
        """Download ``url`` (https://) to ``dest``, which is kept only when its SHA-256 is ``sha256``."""
        if not url.startswith("https://"):
            raise PigsaltError(f"refusing to download {url}: not https://")
        tmp = dest.with_name(f".{dest.name}.part")
        digest = hashlib.sha256()
        try:
            with self.open(urllib.request.Request(url), self.timeout) as answer, tmp.open("wb") as out:
                while block := answer.read(1 << 20):
                    digest.update(block)
                    out.write(block)
        except (OSError, ValueError) as err:
            tmp.unlink(missing_ok=True)
            raise PigsaltError(f"{url}: {getattr(err, 'reason', None) or err}") from err
        if digest.hexdigest() != sha256:
            tmp.unlink(missing_ok=True)
            raise PigsaltError(f"{url}: SHA-256 {digest.hexdigest()}, the lock says {sha256}")
        tmp.replace(dest)
        return dest
