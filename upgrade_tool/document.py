"""A parsed input: text, syntax tree, message, and what the schema did not know."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from upgrade_tool.binder import Path, Unknown, locate
from upgrade_tool.reader import Field


@dataclass(frozen=True)
class Document:
    text: str
    tree: list[Field]
    message: Message
    unknown: tuple[Unknown, ...] = ()

    def node(self, path: Path) -> Field | None:
        """The syntax node of the value at `path` in the message."""
        return locate(self.tree, path)

    def unknown_within(self, path: Path) -> list[Unknown]:
        """Unknown nodes anywhere inside the value at `path`."""
        return [item for item in self.unknown if item.owner[: len(path)] == path]

    def unknown_texts(self) -> list[str]:
        return [self.text[item.node.start : item.node.stop] for item in self.unknown]


def children_named(nodes: list[Field] | None, name: str) -> list[Field]:
    return [node for node in nodes or () if node.name == name]
