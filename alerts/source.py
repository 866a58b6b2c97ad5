"""YAML with line numbers, and errors that name the file, the key and the line.

PyYAML forgets where a value came from once it is a dict; the loader here keeps the line
of every mapping key and sequence item, so validation can say
``rules.yaml:14: rules[2].for: expected a duration ...`` instead of only the key.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from stream.config import ConfigError

T = TypeVar("T")


class RuleError(ValueError):
    """An invalid rules file; the message is ``FILE:LINE: key.path: what is wrong``."""


class LinedDict(dict):
    """A mapping that remembers the (1-based) line of each key."""

    lines: dict[str, int]
    line: int


class LinedList(list):
    """A sequence that remembers the line of each item."""

    lines: list[int]
    line: int


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LinedDict:
        self.flatten_mapping(node)
        out = LinedDict()
        out.lines = {}
        out.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise RuleError(f"line {key_node.start_mark.line + 1}: keys must be strings")
            if key in out:
                raise RuleError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            out[key] = self.construct_object(value_node, deep=True)
            out.lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LinedList:
        out = LinedList(self.construct_object(child, deep=True) for child in node.value)
        out.lines = [child.start_mark.line + 1 for child in node.value]
        out.line = node.start_mark.line + 1
        return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)


def load_yaml(path: str | Path) -> Any:
    """Parse ``path``; syntax errors become :class:`RuleError` with the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RuleError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except RuleError as error:
        raise RuleError(f"{path}:{str(error).removeprefix('line ')}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{mark.line + 1}" if mark else "1"
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise RuleError(f"{path}:{where}: not valid YAML ({problem})") from None


@dataclass(frozen=True, slots=True)
class Where:
    """A position in the document: file, key path and line, for error messages."""

    file: str
    path: str
    line: int

    def key(self, parent: Any, key: str) -> Where:
        lines = getattr(parent, "lines", {})
        line = lines.get(key, self.line) if isinstance(lines, dict) else self.line
        return Where(self.file, f"{self.path}.{key}" if self.path else key, line)

    def item(self, parent: Any, index: int) -> Where:
        lines = getattr(parent, "lines", [])
        line = lines[index] if isinstance(lines, list) and index < len(lines) else self.line
        return Where(self.file, f"{self.path}[{index}]", line)

    def error(self, message: str) -> RuleError:
        return RuleError(f"{self.file}:{self.line}: {self.path}: {message}")

    def mapping(self, value: Any) -> dict:
        if not isinstance(value, dict):
            raise self.error(f"expected a mapping, got {type(value).__name__}")
        return value

    def check_keys(self, data: dict, known: tuple[str, ...]) -> None:
        """Unknown keys are errors at their own line, with a did-you-mean hint."""
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.key(data, key).error(f"unknown key{hint}; allowed: {', '.join(known)}")

    def parse(self, parser: Callable[[str, Any], T], value: Any) -> T:
        """Run one of stream.config's parsers, which raise ConfigError("path: ...")."""
        try:
            return parser(self.path, value)
        except ConfigError as error:
            raise RuleError(f"{self.file}:{self.line}: {error}") from None
