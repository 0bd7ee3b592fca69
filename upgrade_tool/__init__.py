"""bn-upgrade: upgrade legacy Caffe prototxt and prove the output.

The Python API::

    from upgrade_tool import upgrade_text, check_idempotent

    result = upgrade_text(text, bn_style="strip")
    result.text        # the upgraded text
    result.changed     # True if any upgrade applied
    result.changes     # what each pass did: .code, .name, .summary, .counts, .line, .column
    result.findings    # what needs a human, with .code, .message, .line, .column
    result.unknown_fields  # fork fields kept as written

`upgrade_text` raises `InputError` for input that is not a valid Caffe net or
solver (`.code`, `.message`, `.line`, `.column`), `SchemaError` for a `proto`
that cannot be used (a missing file too), `UnknownDialectError` (a ValueError)
for a `dialect` or `target` no shipped dialect has, `TypeError` for text that
is not a `str`, and `SelfCheckError` if the tool's own proof of its output
fails (a bug: please report it with the input attached).

The names below are imported on first use, so `import upgrade_tool` is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "upgrade_text": "upgrade_tool.api",
    "check_idempotent": "upgrade_tool.api",
    "InputError": "upgrade_tool.errors",
    "SelfCheckError": "upgrade_tool.errors",
    "SchemaError": "upgrade_tool.schema",
    "UnknownDialectError": "upgrade_tool.dialects.registry",
    "Kind": "upgrade_tool.document",
    "Located": "upgrade_tool.pipeline",
    "Change": "upgrade_tool.pipeline",
    "Result": "upgrade_tool.pipeline",
    "Settings": "upgrade_tool.settings",
    "BnStyle": "upgrade_tool.settings",
    "OutputFormat": "upgrade_tool.settings",
    "BnStyleName": "upgrade_tool.settings",
    "OutputFormatName": "upgrade_tool.settings",
    "KindName": "upgrade_tool.settings",
    "CodeSelection": "upgrade_tool.selection",
}

__all__ = [
    "BnStyle",
    "BnStyleName",
    "Change",
    "CodeSelection",
    "InputError",
    "Kind",
    "KindName",
    "Located",
    "OutputFormat",
    "OutputFormatName",
    "Result",
    "SchemaError",
    "SelfCheckError",
    "Settings",
    "UnknownDialectError",
    "check_idempotent",
    "upgrade_text",
]

if TYPE_CHECKING:
    from upgrade_tool.api import check_idempotent, upgrade_text
    from upgrade_tool.dialects.registry import UnknownDialectError
    from upgrade_tool.document import Kind
    from upgrade_tool.errors import InputError, SelfCheckError
    from upgrade_tool.pipeline import Change, Located, Result
    from upgrade_tool.schema import SchemaError
    from upgrade_tool.selection import CodeSelection
    from upgrade_tool.settings import BnStyle, BnStyleName, KindName, OutputFormat, OutputFormatName, Settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'upgrade_tool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
