"""A parsed input: text, syntax tree, message, and what the schema did not know."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from google.protobuf.message import Message

from upgrade_tool.binder import Locator, Path, Unknown
from upgrade_tool.reader import Field


class Kind(str, Enum):
    NET = "net"
    SOLVER = "solver"


# Where a solver may hold whole nets of its own.
EMBEDDED_NETS = ("net_param", "train_net_param", "test_net_param")


@dataclass(frozen=True)
class Document:
    """`tree` is None for a binary input: there is no text to edit.

    Looking up a node or the unknown nodes inside a value takes time for the
    path, not for the net: both are indexed on first use (a net of 100,000
    layers is looked up once per layer).
    """

    text: str
    tree: list[Field] | None
    message: Message
    unknown: tuple[Unknown, ...] = ()

    def node(self, path: Path) -> Field | None:
        """The syntax node of the value at `path` in the message."""
        return self._locator.find(path) if self._locator is not None else None

    def unknown_within(self, path: Path) -> list[Unknown]:
        """Unknown nodes anywhere inside the value at `path`, in document order."""
        return list(self._unknown_by_owner.get(path, ()))

    @cached_property
    def _locator(self) -> Locator | None:
        if self.tree is None:
            return None
        return Locator(self.tree, frozenset(item.node.key for item in self.unknown))

    @cached_property
    def _unknown_by_owner(self) -> dict[Path, list[Unknown]]:
        """Each unknown node under every path that leads to it."""
        index: dict[Path, list[Unknown]] = {}
        for item in self.unknown:
            for depth in range(len(item.owner) + 1):
                index.setdefault(item.owner[:depth], []).append(item)
        return index

    def unknown_texts(self) -> list[str]:
        return [self.text[item.node.start : item.node.stop] for item in self.unknown]

    def view(self, path: Path) -> Document:
        """The message at `path` as a document of its own, over the same text."""
        if not path:
            return self
        node = self.node(path)
        tree = None if self.tree is None else (node.children if node is not None else [])
        unknown = tuple(Unknown(item.owner[len(path) :], item.node) for item in self.unknown_within(path))
        return Document(self.text, tree, message_at(self.message, path), unknown)


def message_at(message: Message, path: Path) -> Message:
    for name, index in path:
        value = getattr(message, name)
        message = value[index] if message.DESCRIPTOR.fields_by_name[name].is_repeated else value
    return message


def graft(root: Message, path: Path, replacement: Message) -> Message:
    """A copy of `root` with the message at `path` replaced."""
    if not path:
        return replacement
    copy = type(root)()
    copy.CopyFrom(root)
    message_at(copy, path).CopyFrom(replacement)
    return copy


def embedded_nets(solver: Message) -> list[Path]:
    """Paths of the nets a solver holds inline."""
    paths: list[Path] = []
    for name in EMBEDDED_NETS:
        field = solver.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            continue
        if field.is_repeated:
            paths.extend(((name, index),) for index in range(len(getattr(solver, name))))
        elif solver.HasField(name):
            paths.append(((name, 0),))
    return paths


def children_named(nodes: list[Field] | None, name: str) -> list[Field]:
    return [node for node in nodes or () if node.name == name]
