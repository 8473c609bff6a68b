"""Reading the configuration file's YAML: a document, and every key given twice with its path.

PyYAML keeps the last of two equal keys silently; relay reports each one as a problem at its
key path and goes on, so that a duplicate key does not hide the file's other problems.
"""

from __future__ import annotations

import re

import yaml  # type: ignore[import-untyped, unused-ignore]

from relay.config_problems import ConfigProblem, join

_MERGE = "tag:yaml.org,2002:merge"
_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """PyYAML's safe loader with YAML 1.2 booleans: only true / false (in any of their three
    spellings). YAML 1.1 also reads on, off, yes, no, y and n as booleans, which turns a
    `notify` entry's `on:` key into `true` (https://yaml.org/spec/1.2.2/ext/changes/)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def read_yaml(text: str) -> tuple[object, list[ConfigProblem]]:
    """Parse `text` -> (document, problems).

    A syntax error is one problem naming line and column (1-based), with the document None;
    keys given twice are problems at their key paths, with the document as YAML reads it.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        problems = _duplicates(node, "", set()) if node is not None else []
        data = loader.construct_document(node) if node is not None else None
        return data, problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return None, [ConfigProblem("", f"YAML syntax error at {where}"
                                        f"{exc.problem or 'invalid YAML'}")]
    except yaml.YAMLError as exc:
        return None, [ConfigProblem("", f"YAML error: {exc}")]
    finally:
        loader.dispose()


def _duplicates(node: yaml.Node, path: str, seen_nodes: set[int]) -> list[ConfigProblem]:
    """Every key given twice in a mapping under `node`, depth first, in document order."""
    if id(node) in seen_nodes:  # an alias: its anchor was walked already
        return []
    seen_nodes.add(id(node))
    found: list[ConfigProblem] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue  # `<<: *base` may be overridden; unhashable keys: PyYAML says so
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first:
                found.append(ConfigProblem(
                    join(path, key),
                    f"line {line}, column {key_node.start_mark.column + 1}: found duplicate "
                    f"key '{key}' (first given at line {first[key]}; YAML would keep the last "
                    "one silently): remove one"))
            else:
                first[key] = line
            found += _duplicates(value_node, join(path, key), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicates(item, join(path, index), seen_nodes)
    return found
