"""Whether a dialect reads a file's BVLC fields exactly as BVLC's schema does. Pure.

A fork's file is first read leniently with BVLC's schema, and BVLC's reading
decides: where it fails, its error is the file's. Where a dialect's own reading
of the file succeeded, BVLC's cannot fail if `reads_alike(schema, used)`, with
`used` the file's used keys (`keys.used_keys`, every field BVLC knows in the
file): the binder checks a node by its field's type and label only, so a
dialect that gives each of those fields, at every place BVLC's message meets
its own, the same type and label, presence, and every value of BVLC's enum,
refuses every node BVLC's reading would refuse (a field given twice included:
it sets what BVLC's sets, and more). Each message BVLC's reading would build
must also require no field the dialect's does not, and neither may have a oneof
(setting one member clears another). Then BVLC's message is never built.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from upgrade_tool.dialects.index import Key
from upgrade_tool.schema import BVLC, Schema


def reads_alike(schema: Schema, used: Iterable[Key]) -> bool:
    """Whether `schema` reads every field of `used` (BVLC's) as BVLC's schema does, wherever the file has it."""
    if not _roots_alike(schema):
        return False
    return all(_field_alike(schema, key[0], key[1]) for key in used if len(key) == 2)


@functools.cache
def _places(schema: Schema) -> dict[str, tuple[Descriptor, tuple[Descriptor, ...]]]:
    """BVLC's message types by full name -> (that type, the schema's types at the same places in a file)."""
    met: dict[str, tuple[Descriptor, list[Descriptor]]] = {}
    pending = [_descriptors(BVLC.net, schema.net), _descriptors(BVLC.solver, schema.solver)]
    while pending:
        ours, theirs = pending.pop()
        entry = met.setdefault(ours.full_name, (ours, []))
        if theirs in entry[1]:
            continue
        entry[1].append(theirs)
        for field in ours.fields:
            other = theirs.fields_by_name.get(field.name)
            if field.message_type is not None and other is not None and other.message_type is not None:
                pending.append((field.message_type, other.message_type))
    return {name: (ours, tuple(theirs)) for name, (ours, theirs) in met.items()}


def _descriptors(ours: type[Message], theirs: type[Message]) -> tuple[Descriptor, Descriptor]:
    return cast(Descriptor, ours.DESCRIPTOR), cast(Descriptor, theirs.DESCRIPTOR)


@functools.cache
def _roots_alike(schema: Schema) -> bool:
    return all(_message_alike(*_descriptors(ours, theirs)) for ours, theirs in _roots(schema))


def _roots(schema: Schema) -> tuple[tuple[type[Message], type[Message]], ...]:
    return ((BVLC.net, schema.net), (BVLC.solver, schema.solver))


@functools.cache
def _field_alike(schema: Schema, owner: str, name: str) -> bool:
    found = _places(schema).get(owner)
    if found is None:
        return False
    ours, places = found
    field = ours.fields_by_name.get(name)
    if field is None:
        return False
    for place in places:
        other = place.fields_by_name.get(name)
        if other is None or not _same_field(field, other):
            return False
        inner = other.message_type
        if field.message_type is not None and (inner is None or not _message_alike(field.message_type, inner)):
            return False
    return True


def _same_field(ours: FieldDescriptor, theirs: FieldDescriptor) -> bool:
    """The binder refuses in `theirs` every node it refuses in `ours`.

    The same type. A repeated field may be singular there (which refuses more:
    a list, a second value), not the other way round; a singular field has
    presence in both. Enum values need not match: a value an enum lacks is left
    aside, never refused, and only a required field's presence depends on it.
    """
    if ours.type != theirs.type:
        return False
    if not ours.is_repeated:
        return not theirs.is_repeated and ours.has_presence == theirs.has_presence
    return theirs.is_repeated or theirs.has_presence


def _message_alike(ours: Descriptor, theirs: Descriptor) -> bool:
    """Neither has a oneof; each field `ours` requires, `theirs` requires, and none is an enum (see `_same_field`)."""
    if ours.oneofs or theirs.oneofs:
        return False
    for field in ours.fields:
        if field.is_required:
            other = theirs.fields_by_name.get(field.name)
            if other is None or not other.is_required or field.enum_type is not None:
                return False
    return True
