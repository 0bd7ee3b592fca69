"""bn-upgrade: upgrade legacy Caffe prototxt and prove the output.

The Python API::

    from upgrade_tool import upgrade_text, check_idempotent

    result = upgrade_text(text, bn_style="strip")
    result.text        # the upgraded text
    result.changed     # True if any upgrade applied
    result.findings    # what needs a human, with .code, .message, .line, .column
    result.unknown_fields  # fork fields kept as written

`upgrade_text` raises `InputError` for input that is not a valid Caffe net or
solver (`.message`, `.line`, `.column`), and `SelfCheckError` if the tool's own
proof of its output fails (a bug: please report it with the input attached).
"""

from __future__ import annotations

import dataclasses

from upgrade_tool.document import Kind
from upgrade_tool.errors import InputError, SelfCheckError
from upgrade_tool.pipeline import Located, Result, upgrade_source
from upgrade_tool.settings import BnStyle, OutputFormat, Settings
from upgrade_tool.source import Source

__all__ = ["InputError", "Kind", "Located", "Result", "SelfCheckError", "check_idempotent", "upgrade_text"]
__version__ = "0.1.0"


def upgrade_text(
    text: str,
    *,
    bn_style: str = "strip",
    unsafe_fixes: bool = False,
    output_format: str = "preserve",
    strict: bool = False,
    proto: str | None = None,
    v1_types: dict[str, str] | None = None,
    kind: str | None = None,
) -> Result:
    """Upgrade the text of a Caffe net or solver; the result is already proven.

    `output_format="preserve"` (the default) edits the text only where an upgrade
    applies and keeps fields the schema does not know; "canonical" prints the
    net exactly as Caffe's own tools do (and treats unknown fields as errors).
    `v1_types` maps fork V1 layer types, e.g. {"ROI_POOLING": "ROIPooling"};
    `kind` is "net" or "solver" (default: told by content). A leading BOM is
    accepted and kept.
    """
    settings = Settings(
        BnStyle(bn_style),
        unsafe_fixes,
        OutputFormat(output_format),
        strict,
        proto,
        tuple((v1_types or {}).items()),
    )
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


def check_idempotent(text: str, *, bn_style: str = "strip", output_format: str = "preserve") -> None:
    """Raise `SelfCheckError` unless upgrading `text` is stable.

    Upgrades `text`, then upgrades the output once more: the second run must
    change nothing and reproduce the output byte for byte, and the output must
    parse back to the upgraded message.
    """
    first = upgrade_text(text, bn_style=bn_style, output_format=output_format)
    second = upgrade_text(first.text, bn_style=bn_style, output_format=output_format)
    if second.changed or second.text != first.text:
        raise SelfCheckError("a second run changes the output")
