"""Detection keys: what the nodes of a file say about the dialect it is written for.

A key is `(owner, field)` or `(owner, field, value)`: ("caffe.LayerParameter",
"multibox_loss_param"), ("caffe.V1LayerParameter", "type", "BN"). `owner` is the
message's *role*, its full name in BVLC's terms: a pre-V2 fork's `LayerParameter`
(the message at `NetParameter.layers`) and the types nested in it are named as
BVLC's `caffe.V1LayerParameter`, so keys from a BVLC reading and from a fork
reading meet. Enum values given as numbers are keyed by their decimal number.

`keys_of` gives the keys of the nodes a lenient `bind` left aside:
- a field its message lacks: `(owner, field)`; if its value is a bare word that
  is not a boolean or float word, it can only be an enum value, so also `(owner,
  field, word)`: Intel's `engine: MKL2017` in `batch_norm_param` gives
  ("caffe.BatchNormParameter", "engine") and (..., "engine", "MKL2017"), a value
  NVIDIA's `engine` enum lacks;
- the fields inside such a node, keyed the same way under the message type the
  dialects give that field (the index's `types`): `multibox_loss_param {
  num_clases: 2 }` also gives ("caffe.MultiBoxLossParameter", "num_clases");
- an enum value a known enum field lacks: `(owner, field, value)`;
- a field given more than once in one message (or as a list): also `(owner,
  field, "[]")`, which only dialects where the field is repeated know.

`used_keys` gives the keys of the nodes the schema did know (fields and enum
values), so that detection can tell a fork that lacks a field the file uses.

`tree_keys` gives both from the tree and the schema's descriptors alone, without
binding (the same keys, where that bind succeeds), and `leaves_aside` says
whether there are any: a fork's file need not be bound with BVLC's schema to be
detected. Where the reader's C fast path is built, it walks the tree for both
(`_fastread.c`'s `walk`), calling this module's own functions for enum values.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import Message

from upgrade_tool.binder import TOO_BIG, Path, Unknown, parse_integer, scalar_value
from upgrade_tool.dialects.index import Index, Key, load_index
from upgrade_tool.document import message_at
from upgrade_tool.reader import FASTREAD, Field, Scalar

V1_LAYER_ROLE = "caffe.V1LayerParameter"
REPEATED = "[]"  # the value part of a key saying "given more than once" (no enum value is spelt so)
# Bare words the text parser reads as booleans or floats, never as enum values.
_NOT_ENUM_WORDS = frozenset({"true", "True", "t", "false", "False", "f"})
_FLOAT_WORDS = frozenset({"inf", "infinity", "nan"})


def role_name(message: Descriptor) -> str:
    """The message's full name, or BVLC's name for the role it plays (a pre-V2 fork's layer message)."""
    layers = _layers_message(message.file)
    name = message.full_name
    if layers is None or layers == V1_LAYER_ROLE:
        return name
    if name == layers or name.startswith(layers + "."):
        return V1_LAYER_ROLE + name[len(layers) :]
    return name


@functools.cache
def _layers_message(file: FileDescriptor) -> str | None:
    """Full name of the message `NetParameter.layers` holds in this schema, if it has one."""
    net = file.message_types_by_name.get("NetParameter")
    layers = net.fields_by_name.get("layers") if net is not None else None
    message = layers.message_type if layers is not None else None
    return None if message is None else message.full_name


# The role name and the fields by name of each message walked: plain dicts are faster than upb's maps.
_FACTS: dict[Descriptor, tuple[str, dict[str, FieldDescriptor]]] = {}


def _facts(message: Descriptor) -> tuple[str, dict[str, FieldDescriptor]]:
    facts = _FACTS.get(message)
    if facts is None:
        facts = _FACTS[message] = (role_name(message), dict(message.fields_by_name))
    return facts


_WALK_FACTS: dict[Descriptor, tuple[str, dict[str, tuple[FieldDescriptor, Descriptor | None, bool]]]] = {}


def _walk_facts(message: Descriptor) -> tuple[str, dict[str, tuple[FieldDescriptor, Descriptor | None, bool]]]:
    """`_facts` for the fast path's walk: each field with its message type and whether it is an enum."""
    facts = _WALK_FACTS.get(message)
    if facts is None:
        role, fields = _facts(message)
        facts = _WALK_FACTS[message] = (
            role,
            {
                name: (field, field.message_type, field.type == FieldDescriptor.TYPE_ENUM)
                for name, field in fields.items()
            },
        )
    return facts


def keys_of(message: Message, unknown: Iterable[Unknown], text: str, index: Index | None = None) -> tuple[Key, ...]:
    """The distinct keys of the nodes a lenient `bind` of `text` into `message` left aside, in order."""
    items = list(unknown)
    seen: set[tuple[Path, str]] = set()
    twice: set[tuple[Path, str]] = set()
    for item in items:
        place = (item.owner, item.node.name)
        (twice if place in seen else seen).add(place)
    owners: dict[Path, Descriptor] = {}
    keys: dict[Key, None] = {}
    for item in items:
        owner = owners.get(item.owner)
        if owner is None:
            owner = owners[item.owner] = cast(Descriptor, message_at(message, item.owner).DESCRIPTOR)
        keys.update(dict.fromkeys(node_keys(owner, item.node, text, index, (item.owner, item.node.name) in twice)))
    return tuple(keys)


def node_keys(
    owner: Descriptor, node: Field, text: str, index: Index | None = None, again: bool = False
) -> Iterator[Key]:
    """The keys of one node the `owner` message could not take (and of the fields inside it).

    `again`: the same field is given more than once in this message.
    """
    role = role_name(owner)
    field = owner.fields_by_name.get(node.name)
    if field is None:
        yield from _unknown_subtree(role, node, again, text, index or load_index())
    elif field.type == FieldDescriptor.TYPE_ENUM:  # the binder leaves a known field aside only for such a value
        for scalar in node.values or ():
            if scalar_value(field, scalar, text) is None:
                yield (role, node.name, _value_word(scalar, text))


def _unknown_subtree(role: str, node: Field, again: bool, text: str, index: Index) -> Iterator[Key]:
    pending = [(role, node, again)]  # no recursion: nesting depth is not limited
    while pending:
        owner, current, repeated = pending.pop()
        name = current.name
        yield (owner, name)
        values = current.values
        if values:
            if repeated or len(values) > 1:
                yield (owner, name, REPEATED)
            for scalar in values:
                if scalar.kind == "ident":
                    word = text[scalar.token : scalar.end]
                    if word not in _NOT_ENUM_WORDS and word.lower() not in _FLOAT_WORDS:
                        yield (owner, name, word)
            continue
        if repeated:
            yield (owner, name, REPEATED)
        children = current.children
        child_type = index.field_type(owner, name) if children else None
        if child_type is not None and children:
            twice = _given_twice(children)
            pending.extend((child_type, child, child.name in twice) for child in reversed(children))


def _given_twice(nodes: list[Field]) -> set[str]:
    seen: set[str] = set()
    twice: set[str] = set()
    for node in nodes:
        (twice if node.name in seen else seen).add(node.name)
    return twice


def used_keys(message: Message, tree: list[Field], text: str) -> tuple[Key, ...]:
    """The distinct keys of every node `message`'s schema knows in `tree`: fields, then enum values and repeats."""
    return _walk(cast(Descriptor, message.DESCRIPTOR), tree, text, None)


def tree_keys(
    root: Descriptor, tree: list[Field], text: str, index: Index | None = None
) -> tuple[tuple[Key, ...], tuple[Key, ...]]:
    """`keys_of` and `used_keys` for `tree` read leniently into a `root` message, in one walk, with no message built.

    Where that `bind` succeeds, these are the keys, in the order, that `keys_of`
    and `used_keys` give after it: the nodes it leaves aside are those whose name
    their message lacks and the enum fields given a value their enum lacks.
    Where it fails, they mean nothing. A value `scalar_value` refuses raises its
    `InputError` (not always the first error the bind would raise).
    """
    aside: list[tuple[Descriptor, Field, list[Field]]] = []  # (owner, node, the node's siblings)
    used = _walk(root, tree, text, aside)
    aside.sort(key=lambda item: item[1].start)  # document order, as the binder meets them
    times: dict[tuple[int, str], int] = {}
    for _, node, siblings in aside:
        place = (id(siblings), node.name)  # one list of siblings per message the binder builds
        times[place] = times.get(place, 0) + 1
    keys: dict[Key, None] = {}
    for owner, node, siblings in aside:
        keys.update(dict.fromkeys(node_keys(owner, node, text, index, times[(id(siblings), node.name)] > 1)))
    return tuple(keys), tuple(used)


def leaves_aside(root: Descriptor, tree: list[Field], text: str) -> bool:
    """Whether a lenient `bind` of `tree` into a `root` message that succeeds leaves a node aside.

    A value `scalar_value` refuses raises its `InputError`.
    """
    if FASTREAD is not None:
        answer = FASTREAD.walk(root, tree, text, _WALK_FACTS, _walk_facts, (_value_word, scalar_value), True)
        if answer is not None:
            return bool(answer)
    pending: list[tuple[Descriptor, list[Field]]] = [(root, tree)]
    while pending:
        owner, nodes = pending.pop()
        fields = _facts(owner)[1]
        for node in nodes:
            field = fields.get(node.name)
            if field is None:
                return True
            if node.children:
                if field.message_type is not None:
                    pending.append((field.message_type, node.children))
            elif (
                node.values
                and field.type == FieldDescriptor.TYPE_ENUM
                and any(scalar_value(field, scalar, text) is None for scalar in node.values)
            ):
                return True
    return False


def _walk(
    root: Descriptor, tree: list[Field], text: str, aside: list[tuple[Descriptor, Field, list[Field]]] | None
) -> tuple[Key, ...]:
    """`used_keys`; with `aside`, also each node a lenient bind would leave aside there, with its owner and siblings."""
    if aside is not None and FASTREAD is not None:
        walked = FASTREAD.walk(root, tree, text, _WALK_FACTS, _walk_facts, (_value_word, scalar_value), False)
        if walked is not None:
            by_role, others, found = walked
            aside.extend(found)
            used: dict[Key, None] = {(role, name): None for role, names in by_role.items() for name in names}
            used.update(others)
            return tuple(used)
    fields_by_role: dict[str, dict[str, None]] = {}  # role -> field names, in order: no tuple per node
    extra: dict[Key, None] = {}  # enum values and repeated fields
    pending: list[tuple[Descriptor, list[Field]]] = [(root, tree)]
    while pending:
        owner, nodes = pending.pop()
        role, fields = _facts(owner)
        names = fields_by_role.setdefault(role, {})
        seen: set[str] = set()
        for node in nodes:
            name = node.name
            field = fields.get(name)
            if field is None:
                if aside is not None:
                    aside.append((owner, node, nodes))
                continue
            names[name] = None
            values = node.values
            if name in seen or (values is not None and len(values) > 1):
                extra[(role, name, REPEATED)] = None
            seen.add(name)
            if node.children:
                if field.message_type is not None:
                    pending.append((field.message_type, node.children))
            elif values and field.type == FieldDescriptor.TYPE_ENUM:
                for scalar in values:
                    extra[(role, name, _value_word(scalar, text))] = None
                if aside is not None and any(scalar_value(field, scalar, text) is None for scalar in values):
                    aside.append((owner, node, nodes))
    keys: dict[Key, None] = {(role, name): None for role, names in fields_by_role.items() for name in names}
    keys.update(extra)
    return tuple(keys)


def _value_word(scalar: Scalar, text: str) -> str:
    word = text[scalar.token : scalar.end]
    if scalar.kind != "number":
        return word
    number = parse_integer(word)
    if number is None or number == TOO_BIG:
        return word  # not an enum number any schema has: keyed as written
    return str(-number if scalar.negative else number)


def describe(key: Key) -> str:
    """A key as a reader knows it: `multibox_loss_param`, `type: BN`, `BatchNormParameter.engine: MKL2017`."""
    owner, field = key[0], key[1]
    short = owner.rpartition(".")[2]
    place = field if short in ("LayerParameter", "V1LayerParameter") else f"{short}.{field}"
    if len(key) == 2:
        return place
    return f"{place} (repeated)" if key[2] == REPEATED else f"{place}: {key[2]}"
