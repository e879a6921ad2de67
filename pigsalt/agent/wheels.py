"""Install Python requirements from the offline repository's wheelhouse, checked against the
hashes the repository signs, standard library only (runs in the nodes' Salt venv)::

    /opt/pigsalt/salt/bin/python -m pigsalt.agent.wheels \\
        --repo http://10.10.10.10/pypi --keyring /etc/apt/keyrings/pigsalt-archive-keyring.gpg \\
        --python /opt/pigsalt/patroni/bin/python 'patroni[etcd3]==4.1.5' 'psycopg[binary]'

The wheelhouse is served over plain HTTP, like the APT repository; APT trusts what it downloads
because ``InRelease`` is signed. The wheelhouse carries the same guarantee: ``pypi/SHA256SUMS``
(the SHA-256 of every wheel) with its detached signature ``SHA256SUMS.gpg``, made by the key
that signs the APT releases. This helper

1. downloads both and checks the signature with ``gpgv`` against the node's APT keyring;
2. asks pip which files it would install (``pip install --dry-run --report``, from the
   repository's index only);
3. installs exactly those, pinned, with ``pip install --require-hashes --no-deps`` and each
   file's hash *from the signed list*, so a file changed on the way or on the server is refused.

Every failure is one line naming what failed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pigsalt.agent import AgentError, last_line

__all__ = ["SUMS", "hashed_requirements", "install", "main", "parse_sums", "verify_sums"]

SUMS = "SHA256SUMS"
SIGNATURE = SUMS + ".gpg"
TIMEOUT = 60  # seconds for each download
PIP_TIMEOUT = 600

_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *]([^\s/]+\.whl)$")

Run = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AgentError(f"{Path(argv[0]).name}: no answer within {timeout:g} s") from None
    except OSError as err:
        raise AgentError(f"{argv[0]}: {err.strerror or err}") from None


def parse_sums(text: str) -> dict[str, str]:
    """``{wheel file name: sha256}`` from ``sha256sum``'s format; an error names a bad line."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _SUM_LINE.match(line)
        if match is None:
            raise AgentError(f"{SUMS} line {number}: expected '<sha256>  <file>.whl', got {line[:80]!r}")
        sums[match.group(2)] = match.group(1)
    if not sums:
        raise AgentError(f"{SUMS} lists no wheel")
    return sums


def verify_sums(sums: Path, signature: Path, keyring: Path, run: Run = _run) -> None:
    """``gpgv`` of the detached ``signature`` of ``sums`` against ``keyring``."""
    done = run(["gpgv", "--keyring", str(keyring), str(signature), str(sums)], TIMEOUT)
    if done.returncode != 0:
        raise AgentError(f"{SUMS}: the signature does not verify with {keyring}: {last_line(done.stderr)}")


def _download(url: str, dest: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT) as answer:
            dest.write_bytes(answer.read())
    except urllib.error.HTTPError as err:
        raise AgentError(f"GET {url}: HTTP {err.code} {err.reason}".rstrip()) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise AgentError(f"GET {url}: {reason}") from None


def hashed_requirements(report: Mapping[str, object], sums: Mapping[str, str]) -> list[str]:
    """``name==version --hash=sha256:…`` for every file of pip's install report, each hash taken
    from the signed list; an error names a file the list does not hold."""
    lines = []
    items = report.get("install")
    if not isinstance(items, list):
        raise AgentError("pip's install report has no 'install' list")
    for item in items:
        metadata = item.get("metadata") or {}
        url = (item.get("download_info") or {}).get("url") or ""
        name = unquote(Path(urlsplit(url).path).name)
        digest = sums.get(name)
        if digest is None:
            raise AgentError(f"{name or url!r}: not in the repository's signed {SUMS}; refusing to install it")
        lines.append(f"{metadata['name']}=={metadata['version']} --hash=sha256:{digest}")
    if not lines:
        raise AgentError("pip would install nothing")
    return sorted(lines, key=str.lower)


def _pip(python: str, index: str, host: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "--disable-pip-version-check",
        "install",
        "--no-cache-dir",
        "--index-url",
        index,
        "--trusted-host",
        host,
    ]


def install(
    repo: str, keyring: Path, python: str, requirements: Sequence[str], run: Run = _run, work: Path | None = None
) -> list[str]:
    """Install ``requirements`` into ``python``'s environment; the pinned, hashed lines installed."""
    base = repo.rstrip("/")
    host = urlsplit(base).hostname or ""
    with tempfile.TemporaryDirectory(prefix="pigsalt-wheels-", dir=work) as tmp:
        where = Path(tmp)
        _download(f"{base}/{SUMS}", where / SUMS)
        _download(f"{base}/{SIGNATURE}", where / SIGNATURE)
        verify_sums(where / SUMS, where / SIGNATURE, keyring, run)
        sums = parse_sums((where / SUMS).read_text(encoding="utf-8"))
        pip = _pip(python, f"{base}/simple", host)
        report = where / "report.json"
        dry = run(
            [*pip, "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), *requirements], PIP_TIMEOUT
        )
        if dry.returncode != 0:
            raise AgentError(f"pip install --dry-run {' '.join(requirements)}: {last_line(dry.stderr or dry.stdout)}")
        try:
            lines = hashed_requirements(json.loads(report.read_text(encoding="utf-8")), sums)
        except (OSError, ValueError) as err:
            raise AgentError(f"pip's install report: {err}") from None
        pinned = where / "requirements.txt"
        pinned.write_text("\n".join(lines) + "\n", encoding="utf-8")
        done = run([*pip, "--quiet", "--require-hashes", "--no-deps", "--requirement", str(pinned)], PIP_TIMEOUT)
        if done.returncode != 0:
            raise AgentError(f"pip install --require-hashes: {last_line(done.stderr or done.stdout)}")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pigsalt.agent.wheels",
        description="Install requirements from the offline wheelhouse, checked against its signed SHA256SUMS.",
    )
    parser.add_argument("--repo", required=True, metavar="URL", help="the wheelhouse, e.g. http://10.10.10.10/pypi")
    parser.add_argument("--keyring", required=True, type=Path, help="the keyring that verifies the repository")
    parser.add_argument("--python", required=True, help="the Python of the environment to install into")
    parser.add_argument("requirements", nargs="+", metavar="REQUIREMENT")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        lines = install(args.repo, args.keyring, args.python, args.requirements)
    except AgentError as err:
        print(f"pigsalt.agent.wheels: {err}", file=sys.stderr)
        return 1
    print(f"installed {len(lines)} wheels, each checked against the signed {SUMS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
