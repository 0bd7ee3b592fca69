"""The registry: BVLC's schema and the shipped forks', as `Dialect` values in a fixed order."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf import descriptor_pool

from upgrade_tool.dialects.batchnorm import MaskAnswer, masks_statistics
from upgrade_tool.dialects.data_files import read_bytes, read_tsv
from upgrade_tool.dialects.suggest import suggest
from upgrade_tool.dialects.tables import BatchNormRow, V1Type, batchnorm_rows_of, v1_types
from upgrade_tool.schema import BVLC, Schema, schema_of

BVLC_NAME = "bvlc"


class UnknownDialectError(ValueError):
    """No shipped dialect has this name; the message names the closest one, if any is close."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.suggestion = suggest(name, known)
        hint = f"did you mean {self.suggestion!r}?" if self.suggestion else f"known: {', '.join(known)}"
        super().__init__(f"unknown dialect {name!r} ({hint})")


@dataclass(frozen=True)
class Dialect:
    """One Caffe schema bn-upgrade can read with: where it comes from, and its facts (loaded when asked)."""

    name: str  # as given to --dialect: "bvlc", "ssd", ...
    title: str  # what it is, in a phrase
    repository: str  # "owner/repo" on GitHub
    ref: str  # the branch the commit is on, or "(pinned)" for a commit another project pins
    commit: str  # the full commit the schema was taken from
    proto: str  # path of its caffe.proto in that repository
    licence: str
    pre_v2: bool  # NetParameter has no `layer` field; `layers` holds the fork's own LayerParameter

    @property
    def short_commit(self) -> str:
        return self.commit[:7]

    @property
    def origin(self) -> str:
        return f"{self.repository}@{self.short_commit}"

    def schema(self) -> Schema:
        """The messages to read with; BVLC's is the compiled `upgrade_tool.schema.BVLC`, loading nothing."""
        return _schema(self)

    def v1_types(self) -> Mapping[str, V1Type]:
        """V1 LayerType enum name -> what it becomes (its type string, the source and the evidence)."""
        return v1_types(self.name)

    def batchnorm(self) -> tuple[BatchNormRow, ...]:
        """This dialect's rows of batchnorm.tsv (none: it has no batch normalisation layer)."""
        return batchnorm_rows_of(self.name)

    def masks_statistics(self, engine: str | None = None, layer_type: str = "BatchNorm") -> MaskAnswer:
        """Does its `layer_type` keep the solver off the statistics itself, with `engine` (None: the default)?"""
        return _masks_statistics(self.name, engine, layer_type)


@functools.lru_cache(maxsize=1024)  # the answer depends on these alone; a net asks it once per BatchNorm layer
def _masks_statistics(dialect: str, engine: str | None, layer_type: str) -> MaskAnswer:
    return masks_statistics(dialect, batchnorm_rows_of(dialect), engine, layer_type)


@functools.cache
def all_dialects() -> tuple[Dialect, ...]:
    """Every shipped dialect: bvlc first, then the forks in the order of the facts' table.

    That order is ssd, nvcaffe, intel, faster-rcnn, rfcn, rfcn-matlab, deeplab,
    deeplab-context, segnet, crfasrnn, tsn, pspnet, openpose, openpose-rtpose, yolo,
    sppnet, sphereface, googlenet-bn, deconvnet, c3d, c3d-v1.1, faster-rcnn-matlab;
    detection breaks its last ties by it.
    """
    return tuple(_dialect(row) for row in read_tsv("dialects.tsv"))


def _dialect(row: dict[str, str]) -> Dialect:
    return Dialect(
        name=row["name"],
        title=row["title"],
        repository=row["repository"],
        ref=row["ref"],
        commit=row["commit"],
        proto=row["proto"],
        licence=row["licence"],
        pre_v2=row["pre_v2"] == "yes",
    )


@functools.cache
def _by_name() -> dict[str, Dialect]:
    return {dialect.name: dialect for dialect in all_dialects()}


def dialect_names() -> tuple[str, ...]:
    return tuple(_by_name())


def get_dialect(name: str) -> Dialect:
    """The dialect called `name`; `UnknownDialectError` (a ValueError) if none is."""
    dialect = _by_name().get(name)
    if dialect is None:
        raise UnknownDialectError(name, dialect_names())
    return dialect


@functools.cache
def _schema(dialect: Dialect) -> Schema:
    if dialect.name == BVLC_NAME:
        return BVLC
    from google.protobuf import descriptor_pb2  # a fork's schema only: BVLC's is compiled in

    files = descriptor_pb2.FileDescriptorSet.FromString(read_bytes(f"{dialect.name}.pb"))
    pool = descriptor_pool.DescriptorPool()  # one pool per dialect: every fork calls its messages caffe.*
    for file in files.file:
        pool.Add(file)
    return schema_of(
        pool, "caffe.NetParameter", "caffe.SolverParameter", f"{dialect.name} caffe.proto ({dialect.origin})"
    )
