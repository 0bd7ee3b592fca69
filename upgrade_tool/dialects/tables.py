"""The dialects' fact tables as typed values: V1 layer types, and BatchNorm behaviour.

Both tables are shipped exactly as `../shared/schema/forks/` gives them (facts with
their evidence): `NAME.v1-types.tsv` per dialect and one `batchnorm.tsv`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Literal

from upgrade_tool.dialects.data_files import read_tsv

# Where a V1 type string comes from (see the facts' README):
# upgrade_proto    - the fork's own UpgradeV1LayerType returns it;
# registered_class - derived from the layer class the fork registers for the enum value;
# none             - the value exists but the fork builds no layer for it.
V1Source = Literal["upgrade_proto", "registered_class", "none"]
V1_SOURCES: tuple[V1Source, ...] = ("upgrade_proto", "registered_class", "none")


@dataclass(frozen=True)
class V1Type:
    """What one V1 LayerType enum value of a dialect becomes in a current net."""

    type_string: str  # the V2 `type`; "" when the fork builds no layer for the value
    source: V1Source
    evidence: str  # file:line in the fork (or why there is none)
    number: int  # the value's number in the fork's enum (numbers differ between forks)

    @property
    def derived(self) -> bool:
        """The string is not what the fork's own upgrade returns, but read off the layer class it registers."""
        return self.source == "registered_class"


@functools.cache
def v1_types(dialect: str) -> Mapping[str, V1Type]:
    """Enum name -> `V1Type`, in the table's order."""
    table = {}
    for row in read_tsv(f"{dialect}.v1-types.tsv"):
        source = row["source"]
        if source not in V1_SOURCES:
            raise ValueError(f"{dialect}.v1-types.tsv: unknown source {source!r} for {row['enum_name']}")
        table[row["enum_name"]] = V1Type(row["type_string"], source, row["evidence"], int(row["enum_number"]))
    return MappingProxyType(table)


class Masks(str, Enum):
    """Does a layer keep the solver off its statistics itself?"""

    YES = "yes"  # it adds (or forces) lr_mult 0 on its statistics blobs
    NO = "no"  # it does not: the net's `param { lr_mult: 0 }` blocks must do it
    NOT_APPLICABLE = "not-applicable"  # no statistics blobs, no such layer, or no such engine


@dataclass(frozen=True)
class SourceRef:
    """One place in a fork's code: `path:line` (or `path:first-last`), and what is there."""

    path: str
    line: str
    what: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


BATCHNORM_COLUMNS = (
    "fork", "layer_type", "engine", "condition", "blobs", "blob_orde",
    "learnable_blobs", "masks_statistics_itself", "how", "source",
)  # fmt: skip  # the facts' header, exactly (blob_orde is how it is spelt there)

_FORCES = re.compile(r"\bforce[ds]\b|overwrites user values")
_ENGINE_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_REF = re.compile(r"^(?:(?P<label>[a-z][a-z ]*?) )?(?P<path>[^\s:]*):(?P<line>\d+(?:-\d+)?)(?: \((?P<what>[^)]*)\))?$")


@dataclass(frozen=True)
class BatchNormRow:
    """One row of `batchnorm.tsv`: every column as written, plus typed readings of them."""

    dialect: str
    layer_type: str  # as written: "BatchNorm", "BN", "BN (V1 enum BN = 43)"
    engine: str
    condition: str
    blobs: str
    blob_order: str
    learnable_blobs: str
    masks_statistics: str  # the column as written: "yes", "no", "n/a (...)", or "" on rows that only note a semantic
    how: str
    source: str

    @property
    def type_name(self) -> str:
        """The layer type alone: "BN (V1 enum BN = 43)" -> "BN"."""
        return self.layer_type.split(" (", 1)[0]

    @property
    def masks(self) -> Masks | None:
        """The masking answer; None on rows that describe something else (loading weights, a semantic)."""
        if not self.masks_statistics:
            return None
        if self.masks_statistics.startswith("n/a"):
            return Masks.NOT_APPLICABLE
        return Masks(self.masks_statistics)

    @property
    def engines(self) -> tuple[str, ...]:
        """The engines the row is about (`CAFFE or CUDNN (...)` -> ("CAFFE", "CUDNN")); () for `any`."""
        names = tuple(word.strip() for word in self.engine.split("(", 1)[0].split(" or "))
        return names if all(_ENGINE_NAME.fullmatch(name) for name in names) else ()

    @property
    def is_default_engine(self) -> bool:
        """The row holds for the engine a layer gets when it names none (`(only)`, `default`, `DEFAULT ->`)."""
        return "(only)" in self.engine or "default" in self.engine.lower()

    @property
    def overwrites_rates(self) -> bool:
        """The layer forces lr_mult / decay_mult, whatever the file says (on the blobs `how` names)."""
        return _FORCES.search(self.how) is not None

    @property
    def blob_counts(self) -> tuple[int, ...]:
        """Blob counts the row mentions: "3" -> (3,), "3, 4 or 5" -> (3, 4, 5); () for "same as above"."""
        return tuple(int(number) for number in re.findall(r"\d+", self.blobs))

    @property
    def sources(self) -> tuple[SourceRef, ...]:
        """`path:25 (blobs), :40 (mask); engine choice other:400-433` -> one `SourceRef` each."""
        refs: list[SourceRef] = []
        for piece in re.split(r"[;,] ", self.source):
            match = _REF.match(piece.strip())
            if match is None:
                raise ValueError(f"batchnorm.tsv: cannot read source {piece!r} of {self.dialect} {self.layer_type}")
            path = match["path"] or (refs[-1].path if refs else "")
            refs.append(SourceRef(path, match["line"], match["what"] or match["label"] or ""))
        return tuple(refs)


@functools.cache
def batchnorm_rows() -> tuple[BatchNormRow, ...]:
    """Every row of `batchnorm.tsv`, in its order."""
    rows = read_tsv("batchnorm.tsv")
    if rows and tuple(rows[0]) != BATCHNORM_COLUMNS:
        raise ValueError(f"batchnorm.tsv: unexpected columns {tuple(rows[0])}")
    return tuple(BatchNormRow(*row.values()) for row in rows)


def batchnorm_rows_of(dialect: str) -> tuple[BatchNormRow, ...]:
    return tuple(row for row in batchnorm_rows() if row.dialect == dialect)
