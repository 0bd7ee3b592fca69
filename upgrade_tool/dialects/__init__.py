"""Dialects: the Caffe schemas bn-upgrade can read with, BVLC's and 22 forks', with their facts.

Each `Dialect` (`all_dialects()`, in a fixed order, bvlc first; `get_dialect(name)`)
carries where its schema comes from, and loads on request, once per process:
- `schema()`: an `upgrade_tool.schema.Schema`; for bvlc, exactly `schema.BVLC`
  (the compiled bindings), so a BVLC-only run loads no data at all;
- `v1_types()`: its V1 LayerType table, enum name -> `V1Type`;
- `batchnorm()` / `masks_statistics(engine)`: its rows of `batchnorm.tsv`, and
  whether its BatchNorm keeps the solver off the statistics itself.

Detection (`keys_of`, `used_keys`, `detect`): the keys of a file's unknown nodes,
read with BVLC's schema (or a fork's), rank the dialects that know them;
`tree_keys` finds the same keys without binding, and `alike.reads_alike` says
when a dialect's reading vouches for BVLC's. `suggest` is the
did-you-mean for names; `list_dialects_lines` and `markdown_table` show the registry.

The data (`data/`) is generated from `../shared/schema` by `proto/build_dialects.py`
and shipped in the package; importing this package reads none of it.
"""

from __future__ import annotations

from upgrade_tool.dialects.batchnorm import MaskAnswer, batchnorm_engine, describe_batchnorm, masks_statistics
from upgrade_tool.dialects.detect import (
    Candidate,
    Detection,
    detect,
    dialects_knowing,
    names_known_in,
    values_known_in,
)
from upgrade_tool.dialects.index import Index, Key, load_index
from upgrade_tool.dialects.keys import describe, keys_of, leaves_aside, node_keys, role_name, tree_keys, used_keys
from upgrade_tool.dialects.listing import list_dialects_lines, markdown_table
from upgrade_tool.dialects.registry import (
    BVLC_NAME,
    Dialect,
    UnknownDialectError,
    all_dialects,
    dialect_names,
    get_dialect,
)
from upgrade_tool.dialects.suggest import suggest
from upgrade_tool.dialects.tables import BatchNormRow, Masks, SourceRef, V1Type

__all__ = [
    "BVLC_NAME",
    "BatchNormRow",
    "Candidate",
    "Detection",
    "Dialect",
    "Index",
    "Key",
    "MaskAnswer",
    "Masks",
    "SourceRef",
    "UnknownDialectError",
    "V1Type",
    "all_dialects",
    "batchnorm_engine",
    "describe",
    "describe_batchnorm",
    "detect",
    "dialect_names",
    "dialects_knowing",
    "get_dialect",
    "keys_of",
    "leaves_aside",
    "list_dialects_lines",
    "load_index",
    "markdown_table",
    "masks_statistics",
    "names_known_in",
    "node_keys",
    "role_name",
    "suggest",
    "tree_keys",
    "used_keys",
    "values_known_in",
]
