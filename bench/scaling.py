"""Time and peak memory of one big net at 1x, 10x and 100x a real 0.64 MB net.

    python bench/scaling.py                      # 1x, 10x, 100x
    python bench/scaling.py --sizes 1 10 40 80 --net PATH
    python bench/scaling.py --tiny --sizes 5 20  # nets of tiny layers on one line, 5 and 20 MB

The base net is the corpus's mobilenet_v2_int8_full_conv_acc.prototxt (Intel's
fork: 210 layers, 53 BatchNorm layers with legacy param blocks, fork fields).
Size N repeats its layers N times after its header, in a temporary directory,
and runs `python -m upgrade_tool --target bvlc FILE` (in place) and then
`--check` on the upgraded file, in a child process each, without the outcome
cache, measuring the child's wall time and peak resident memory (`wait4`'s
`ru_maxrss`). Intel's own BatchNorm needs its zero-rate blocks, so the net is
upgraded for BVLC's runtime: the in-place run must exit 0 having removed the
param blocks of its BatchNorm layers (53*N); --check on the upgraded file must exit 0.
Linear time means s/MB stays flat as N grows; the memory target is peak RSS
under 10x the input (README). Nothing is asserted: figures are reported.

With --tiny, size N is instead a net of N MB on one line: a legacy BatchNorm
layer, then `layer { name: "a" }` again and again (as tests/test_hostile.py
makes it), the worst case for memory: a protobuf message every 20 bytes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from upgrade_tool.reader import parse_tree

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BASE = SHARED / "corpus/BVLC__caffe/models/intel_optimized_models/int8/mobilenet_v2_int8_full_conv_acc.prototxt"
MB = 1e6
RUN = ["--no-cache", "--target", "bvlc"]  # every run computed; the BatchNorm blocks go


def scaled(text: str, times: int) -> str:
    """The net with its layers repeated `times` times (everything else once)."""
    layers = [node for node in parse_tree(text) if node.name in ("layer", "layers")]
    start, stop = layers[0].start, layers[-1].stop
    return text[:start] + "\n".join([text[start:stop]] * times) + text[stop:]


def one_line(megabytes: int) -> str:
    """A net of tiny layers on one line, `megabytes` long, with one legacy BatchNorm layer to upgrade."""
    head = 'name: "n" layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" param { lr_mult: 0 } } '
    unit = 'layer { name: "a" } '
    return head + unit * (megabytes * int(MB) // len(unit))


def measure(args: list[str]) -> tuple[int, float, float, str]:
    """(exit code, seconds, peak RSS, the end of stderr) of `python -m upgrade_tool ARGS` in a child.

    Peak RSS is in MB of 10^6 bytes, as the input is measured.
    """
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: stderr to a file, then exec the tool
        with open(os.environ["BN_SCALING_ERR"], "wb") as err:
            os.dup2(err.fileno(), 2)
        os.execv(sys.executable, [sys.executable, "-m", "upgrade_tool", *args])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - started
    stderr = Path(os.environ["BN_SCALING_ERR"]).read_text(errors="replace")
    return os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss * 1024 / MB, stderr.strip()[-160:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--net", type=Path, default=BASE)
    parser.add_argument("--tiny", action="store_true", help="sizes are MB of a net of tiny layers on one line")
    args = parser.parse_args()
    if args.tiny:
        text = ""
        print(f"one-line nets of tiny layers; load average {os.getloadavg()[0]:.2f}")
    elif not args.net.is_file():
        parser.error(f"no net at {args.net} (give --net PATH)")
    else:
        text = args.net.read_bytes().decode("utf-8")
        print(f"base: {args.net.name}, {len(text.encode()) / MB:.2f} MB; load average {os.getloadavg()[0]:.2f}")
    print("| size | MB | in place: s | s/MB | peak RSS MB | x input | --check after: s | peak RSS MB | x input |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["BN_SCALING_ERR"] = str(Path(scratch) / "stderr")
        for times in args.sizes:
            path = Path(scratch) / f"net_{times}x.prototxt"
            data = (one_line(times) if args.tiny else scaled(text, times)).encode()
            path.write_bytes(data)
            size = len(data) / MB
            code, seconds, peak, said = measure([*RUN, str(path)])
            check_code, check_seconds, check_peak, check_said = measure([*RUN, "-q", "--check", str(path)])
            label = f"{times} MB" if args.tiny else f"{times}x"
            print(f"| {label} | {size:.1f} | {seconds:.2f} | {seconds / size:.2f} | {peak:.0f} | {peak / size:.1f} "
                  f"| {check_seconds:.2f} | {check_peak:.0f} | {check_peak / size:.1f} |", flush=True)  # fmt: skip
            if code != 0 or check_code != 0 or "upgraded (BatchNorm: removed" not in said:
                failed = True
                print(f"  exit {code} / {check_code}: {said or check_said}")
            path.unlink()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
