"""Copying protobuf messages field by field, by name: across two schemas as well as within one."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message


def copy_by_name(source: Message, target: Message, skip: frozenset[str] = frozenset(), where: str = "") -> list[str]:
    """Set in `target` every field set in `source`, matched by name; return what does not fit.

    Within one schema this is a plain copy. Between two (a fork's V1 layer into
    another dialect's current layer) a field fits when `target` has a field of
    that name with the same type and label, an enum value when its name exists
    there, and a message when all of its fields fit, recursively; a scalar also
    fits a repeated field of the same type, and a repeated one holding one value
    a singular field (the text reads the same either way). What does not
    fit is named (`interp_param.zoom_factor`) and not copied.
    """
    misfits: list[str] = []
    fields = target.DESCRIPTOR.fields_by_name
    for field, value in source.ListFields():
        if field.name in skip:
            continue
        name = f"{where}{field.name}"
        other = fields.get(field.name)
        values = list(value) if field.is_repeated else [value]
        if other is None or other.type != field.type or not _labels_fit(field, other, len(values)):
            misfits.append(name)
            continue
        if field.type == field.TYPE_MESSAGE:
            for index, item in enumerate(values):
                into = getattr(target, field.name).add() if field.is_repeated else getattr(target, field.name)
                if item.DESCRIPTOR is into.DESCRIPTOR:
                    into.CopyFrom(item)
                else:
                    into.SetInParent()
                    step = f"{name}[{index}]." if field.is_repeated else f"{name}."
                    misfits.extend(copy_by_name(item, into, where=step))
        elif field.type == field.TYPE_ENUM:
            mapped = [_enum_number(field, other, number) for number in values]
            if None in mapped:
                misfits.append(name)
            elif other.is_repeated:
                getattr(target, field.name).extend(mapped)
            else:
                setattr(target, field.name, mapped[0])
        elif other.is_repeated:
            getattr(target, field.name).extend(values)
        else:
            setattr(target, field.name, values[0])
    return misfits


def _labels_fit(field: Any, other: Any, count: int) -> bool:
    """Same label; or, for a scalar, one value either way (`kernel_size: 3` reads the same as either)."""
    if field.is_repeated == other.is_repeated:
        return True
    return field.type != field.TYPE_MESSAGE and (other.is_repeated or count == 1)


def _enum_number(field: Any, other: Any, number: int) -> int | None:
    """The number `other`'s enum gives the value `field`'s enum calls `number`."""
    if field.enum_type is other.enum_type:
        return number
    value = field.enum_type.values_by_number.get(number)
    mapped = other.enum_type.values_by_name.get(value.name) if value is not None else None
    return None if mapped is None else int(mapped.number)
