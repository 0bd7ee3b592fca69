"""What `bn-upgrade --list-dialects` prints, and the README's table of dialects: both from the registry."""

from __future__ import annotations

from collections.abc import Sequence

from upgrade_tool.dialects.batchnorm import describe_batchnorm
from upgrade_tool.dialects.registry import Dialect, all_dialects


def layer_format(dialect: Dialect) -> str:
    return "pre-V2" if dialect.pre_v2 else "V2"


def batchnorm_behaviour(dialect: Dialect) -> str:
    return describe_batchnorm(dialect.name, dialect.batchnorm())


def list_dialects_lines(dialects: Sequence[Dialect] | None = None) -> list[str]:
    """Two lines per dialect, aligned: name, repository@commit, layer format and BatchNorm behaviour;
    then, indented, what it is and its licence.

        ssd     weiliu89/caffe@4817bf8  V2      BatchNorm masks statistics
                SSD (weiliu89), branch ssd; licence BSD-2-Clause
    """
    chosen = all_dialects() if dialects is None else dialects
    name_width = max((len(d.name) for d in chosen), default=0)
    origin_width = max((len(d.origin) for d in chosen), default=0)
    lines = []
    for d in chosen:
        fields = (d.name.ljust(name_width), d.origin.ljust(origin_width), layer_format(d).ljust(6))
        behaviour = batchnorm_behaviour(d)
        lines.append("  ".join((*fields, behaviour if behaviour.startswith("no ") else f"BatchNorm {behaviour}")))
        lines.append(" " * (name_width + 2) + f"{d.title}; licence {d.licence}")
    return lines


def markdown_table(dialects: Sequence[Dialect] | None = None) -> str:
    """The README's table: every dialect's name, origin, licence, layer format and BatchNorm behaviour."""
    lines = [
        "| dialect | what it is | origin (repository, commit) | licence | layers | BatchNorm |",
        "|---|---|---|---|---|---|",
    ]
    for d in all_dialects() if dialects is None else dialects:
        origin = f"[{d.repository}](https://github.com/{d.repository}) `{d.short_commit}`"
        cells = (f"`{d.name}`", d.title, origin, d.licence, layer_format(d), batchnorm_behaviour(d))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
