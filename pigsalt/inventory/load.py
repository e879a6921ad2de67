"""Reading an inventory: one Pigsty-layout file, or a pillar directory written by ``pillar build``.

A pillar directory holds ``all.yml`` (``all.vars`` and the ``meta`` group) and
``clusters/<name>.yml`` (one ``<name>: {hosts, vars}`` group each), so that one cluster can be
edited by hand. Both shapes load into the same raw mapping; duplicate YAML keys (an IP listed
twice in one cluster) are reported with their dotted path instead of silently overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pigsalt.errors import PigsaltError
from pigsalt.inventory.schema import Problem, join

# libyaml's loader when PyYAML was built with it (about ten times faster), else the pure one.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ALL_FILE = "all.yml"
CLUSTERS_DIR = "clusters"


@dataclass(frozen=True)
class Source:
    """Where a raw inventory came from: the files read and the problems found while reading."""

    path: Path
    files: tuple[Path, ...]
    problems: tuple[Problem, ...]


def _duplicates(node: yaml.Node, path: str, out: list[Problem]) -> None:
    """Walk a composed YAML node and report mapping keys that appear twice."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                out.append(Problem(join(path, key), f"duplicate key (lines {seen[key]} and {line})"))
            else:
                seen[key] = line
            _duplicates(value_node, join(path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicates(item, join(path, i), out)


def read_yaml(path: Path, base: str = "") -> tuple[Any, list[Problem]]:
    """Parse one YAML file; a syntax error becomes a ``PigsaltError`` naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PigsaltError(f"{path}: inventory not found (use -i PATH or set PIGSALT_INVENTORY)") from None
    except OSError as err:
        raise PigsaltError(f"{path}: cannot read: {err.strerror}") from None
    problems: list[Problem] = []
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _duplicates(node, base, problems)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        reason = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise PigsaltError(f"{path}{where}: invalid YAML: {reason}") from None
    finally:
        loader.dispose()
    return data, problems


def load(path: Path) -> tuple[dict[str, Any], Source]:
    """Load an inventory file or pillar directory into Pigsty's raw layout ``{all: {...}}``."""
    if path.is_dir():
        return _load_dir(path)
    data, problems = read_yaml(path)
    if not isinstance(data, dict):
        raise PigsaltError(f"{path}: an inventory is a mapping with a top-level 'all' key")
    return data, Source(path, (path,), tuple(problems))


def _load_dir(path: Path) -> tuple[dict[str, Any], Source]:
    all_file = path / ALL_FILE
    data, problems = read_yaml(all_file)
    if not isinstance(data, dict):
        raise PigsaltError(f"{all_file}: expected a mapping with a top-level 'all' key")
    files = [all_file]
    top = data.setdefault("all", {})
    if not isinstance(top, dict):
        raise PigsaltError(f"{all_file}: 'all' must be a mapping")
    children = top.setdefault("children", {})
    if not isinstance(children, dict):
        raise PigsaltError(f"{all_file}: 'all.children' must be a mapping")
    for cluster_file in sorted((path / CLUSTERS_DIR).glob("*.yml")):
        name = cluster_file.stem
        group, found = read_yaml(cluster_file, base="all.children")
        files.append(cluster_file)
        problems.extend(found)
        if not isinstance(group, dict) or list(group) != [name]:
            raise PigsaltError(f"{cluster_file}: must hold exactly one group named '{name}' (the file's name)")
        if name in children:
            problems.append(Problem(join("all.children", name), f"defined twice ({all_file} and {cluster_file})"))
            continue
        children[name] = group[name]
    return data, Source(path, tuple(files), tuple(problems))
