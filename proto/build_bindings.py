"""Regenerate the Python bindings for proto/caffe.proto with grpcio-tools' protoc.

Usage:
    python proto/build_bindings.py            # writes upgrade_tool/caffe_pb2.py (+ .pyi)
    python proto/build_bindings.py OUT_DIR    # writes OUT_DIR/caffe_pb2.py instead

Needs the ``test`` extra (grpcio-tools). The generated file is committed, so a
plain ``pip install`` never runs this.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
PROTO_FILE = PROTO_DIR / "caffe.proto"
DEFAULT_OUT_DIR = PROTO_DIR.parent / "upgrade_tool"


def build(out_dir: Path = DEFAULT_OUT_DIR, descriptor_set: Path | None = None) -> Path:
    """Compile caffe.proto into ``out_dir``; return the path of the generated module.

    If ``descriptor_set`` is given, protoc also writes the compiled schema there
    as a serialized ``FileDescriptorSet`` (the tests compare it with the facts).
    """
    from grpc_tools import protoc  # type: ignore[import-untyped]  # lazy: build-time only

    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
    if descriptor_set is not None:
        args.append(f"--descriptor_set_out={descriptor_set}")
    args.append(str(PROTO_FILE))
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO_FILE}")
    return out_dir / "caffe_pb2.py"


if __name__ == "__main__":
    target = build(Path(sys.argv[1])) if len(sys.argv) > 1 else build()
    print(f"wrote {target}")
