"""The Python API: upgrade a text, prove a text stable."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from upgrade_tool.document import Kind
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.pipeline import Result, upgrade_source
from upgrade_tool.schema import load_schema
from upgrade_tool.selection import DEFAULT, CodeSelection, normalise
from upgrade_tool.settings import BnStyle, BnStyleName, KindName, OutputFormat, OutputFormatName, Settings
from upgrade_tool.source import Source


def upgrade_text(
    text: str,
    *,
    bn_style: BnStyleName = "strip",
    unsafe_fixes: bool = False,
    output_format: OutputFormatName = "preserve",
    strict: bool = False,
    proto: str | None = None,
    v1_types: Mapping[str, str] | None = None,
    kind: KindName | None = None,
    dialect: str | None = None,
    target: str | None = None,
    fix: bool = False,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    settings: Settings | None = None,
) -> Result:
    """Upgrade the text of a Caffe net or solver; the result is already proven.

    `output_format="preserve"` (the default) edits the text only where an upgrade
    applies and keeps fields the schema does not know; "canonical" prints the
    net exactly as Caffe's own tools do (and treats unknown fields as errors).
    `v1_types` maps fork V1 layer types, e.g. {"ROI_POOLING": "ROIPooling"};
    `kind` is "net" or "solver" (default: told by content); `dialect` names the
    fork schema to read with (default: told by content), `target` the runtime
    the output is for (default: the file's dialect); `select`/`ignore` choose
    codes as on the command line. `settings` gives all of these as one value
    instead. A leading BOM is accepted and kept.
    """
    if not isinstance(text, str):
        raise TypeError(f"upgrade_text takes the text as str, not {type(text).__name__} (decode UTF-8 first)")
    if settings is None:
        settings = Settings(
            BnStyle(bn_style),
            unsafe_fixes,
            OutputFormat(output_format),
            strict,
            proto,
            tuple((v1_types or {}).items()),
            dialect,
            target,
            fix,
            DEFAULT if select is None and not ignore else CodeSelection(_opt(select), (), normalise(ignore)),
        )
    if settings.dialect is not None and settings.proto is not None:
        raise ValueError("dialect and proto both name the schema to read with; give one")
    load_schema(settings.proto)  # a bad `proto` is a SchemaError here, not an error inside the pipeline
    bom = text.startswith("\ufeff")
    source = Source(text[1:] if bom else text, bom)
    try:
        result = upgrade_source(source, settings, Kind(kind) if kind else None)
    except InputError as exc:
        exc.line, exc.column = source.position(exc.offset)
        raise
    if bom and settings.output_format is OutputFormat.PRESERVE:
        result = dataclasses.replace(result, text="\ufeff" + result.text)
    return result


def _opt(select: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if select is None else normalise(select)


def check_idempotent(
    text: str,
    *,
    bn_style: BnStyleName = "strip",
    output_format: OutputFormatName = "preserve",
    dialect: str | None = None,
    target: str | None = None,
) -> None:
    """Raise `SelfCheckError` unless upgrading `text` is stable.

    Upgrades `text`, then upgrades the output once more with the same options
    (`dialect` and `target` as for `upgrade_text`): the second run must change
    nothing and reproduce the output byte for byte, and the output must parse
    back to the upgraded message.
    """
    first = upgrade_text(text, bn_style=bn_style, output_format=output_format, dialect=dialect, target=target)
    second = upgrade_text(first.text, bn_style=bn_style, output_format=output_format, dialect=dialect, target=target)
    if second.changed or second.text != first.text:
        raise SelfCheckError("a second run changes the output")
