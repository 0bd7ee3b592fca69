"""Build the dialects' package data, `upgrade_tool/dialects/data/`, from the shared schema facts.

Usage:
    python proto/build_dialects.py                # from ../shared/schema, writes upgrade_tool/dialects/data/
    python proto/build_dialects.py SCHEMA_DIR     # from another copy of the facts
    python proto/build_dialects.py --readme       # print the README's "Dialects" table (from the package data)

What it writes (the data is committed, so a plain `pip install` never runs this):
- `NAME.pb`: each dialect's FileDescriptorSet, serialized (deterministic), from
  `forks/NAME.descriptor.json` (`caffe.descriptor.json` for bvlc);
- `NAME.v1-types.tsv` and `batchnorm.tsv`: copied byte for byte (facts with their evidence);
- `dialects.tsv`: the registry's metadata (name, title, repository, ref, commit, proto path,
  licence, pre_v2), from the table in `forks/README.md`, in its order; pre_v2 is read from the
  descriptor (NetParameter has no `layer` field);
- `index.json`: the detection index (see `upgrade_tool/dialects/index.py`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA_DIR = REPO.parent / "shared" / "schema"
OUT_DIR = REPO / "upgrade_tool" / "dialects" / "data"

# The one title not taken from the facts' table (there it points at a file of ../shared).
BVLC_TITLE = "BVLC Caffe, final master (the reference schema)"
METADATA_COLUMNS = ("name", "title", "repository", "ref", "commit", "proto", "licence", "pre_v2")


def build(schema_dir: Path = DEFAULT_SCHEMA_DIR) -> dict[str, bytes]:
    """Every data file by name, built from the facts in `schema_dir`."""
    forks = schema_dir / "forks"
    table = _fork_table((forks / "README.md").read_text(encoding="utf-8"))
    files: dict[str, bytes] = {}
    pools: dict[str, descriptor_pool.DescriptorPool] = {}
    metadata = ["\t".join(METADATA_COLUMNS)]
    for row in table:
        name = row["NAME"]
        source = schema_dir / "caffe.descriptor.json" if name == "bvlc" else forks / f"{name}.descriptor.json"
        descriptor_set = json_format.Parse(source.read_text(encoding="utf-8"), descriptor_pb2.FileDescriptorSet())
        files[f"{name}.pb"] = descriptor_set.SerializeToString(deterministic=True)
        files[f"{name}.v1-types.tsv"] = (forks / f"{name}.v1-types.tsv").read_bytes()
        pools[name] = _pool(descriptor_set)
        net = pools[name].FindMessageTypeByName("caffe.NetParameter")
        pre_v2 = "layer" not in net.fields_by_name
        title = BVLC_TITLE if name == "bvlc" else row["what it is"]
        cells = (name, title, row["repo"], row["ref"], row["commit"], row["caffe.proto"], row["licence"])
        metadata.append("\t".join((*cells, "yes" if pre_v2 else "no")))
    files["dialects.tsv"] = ("\n".join(metadata) + "\n").encode("utf-8")
    files["batchnorm.tsv"] = (forks / "batchnorm.tsv").read_bytes()
    files["index.json"] = build_index(pools)
    return files


def _fork_table(readme: str) -> list[dict[str, str]]:
    """The rows of the `| NAME | repo | ...` table in the facts' README."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| NAME |"))
    header = _cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, _cells(line), strict=True)))
    return rows


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _pool(descriptor_set: descriptor_pb2.FileDescriptorSet) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set.file:
        pool.Add(file)
    return pool


def build_index(pools: dict[str, descriptor_pool.DescriptorPool]) -> bytes:
    """The detection index, in the format `upgrade_tool/dialects/index.py` reads."""
    from upgrade_tool.dialects.index import INDEX_FORMAT
    from upgrade_tool.dialects.keys import REPEATED, role_name

    names = list(pools)
    masks: dict[str, int] = {}
    types: dict[str, set[str]] = {}
    for bit, name in enumerate(names):
        for message in _all_messages(pools[name]):
            owner = role_name(message)
            for field in message.fields:
                base = f"{owner}\t{field.name}"
                masks[base] = masks.get(base, 0) | 1 << bit
                if field.is_repeated:
                    masks[f"{base}\t{REPEATED}"] = masks.get(f"{base}\t{REPEATED}", 0) | 1 << bit
                if field.message_type is not None:
                    types.setdefault(base, set()).add(role_name(field.message_type))
                for value in field.enum_type.values if field.enum_type is not None else ():
                    for word in (value.name, str(value.number)):
                        masks[f"{base}\t{word}"] = masks.get(f"{base}\t{word}", 0) | 1 << bit
    bvlc = 1 << names.index("bvlc")
    vocabulary = [sum(1 for mask in masks.values() if mask & 1 << bit and not mask & bvlc) for bit in range(len(names))]
    index = {
        "format": INDEX_FORMAT,
        "dialects": names,
        "vocabulary": vocabulary,
        "keys": dict(sorted(masks.items())),
        "types": {key: next(iter(found)) for key, found in sorted(types.items()) if len(found) == 1},
    }
    return (json.dumps(index, separators=(",", ":")) + "\n").encode("utf-8")


def _all_messages(pool: descriptor_pool.DescriptorPool) -> list[Descriptor]:
    file = pool.FindFileByName("caffe.proto")
    found: list[Descriptor] = []
    pending = list(file.message_types_by_name.values())
    while pending:
        message = pending.pop(0)
        found.append(message)
        pending.extend(message.nested_types)
    return found


def write(files: dict[str, bytes], out_dir: Path = OUT_DIR) -> list[str]:
    """Write the files that differ, remove data files no longer built; return what changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = []
    for stale in sorted(set(path.name for path in out_dir.iterdir()) - set(files)):
        (out_dir / stale).unlink()
        changed.append(f"removed {stale}")
    for name, data in files.items():
        path = out_dir / name
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
            changed.append(f"wrote {name}")
    return changed


def main(argv: list[str]) -> int:
    if argv == ["--readme"]:
        from upgrade_tool.dialects import markdown_table

        print(markdown_table())
        return 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(__doc__.split("\n\n")[1], file=sys.stderr)  # the usage lines
        return 0 if argv in (["-h"], ["--help"]) else 2
    schema_dir = Path(argv[0]) if argv else DEFAULT_SCHEMA_DIR
    changes = write(build(schema_dir))
    print("\n".join(changes) if changes else f"{OUT_DIR.relative_to(REPO)} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
