"""How well dialect detection does on the shared corpora: a report for people, not a test.

For each text file of ../shared/corpus and ../shared/corpus2 (binary models are
skipped): bind it leniently with BVLC's schema, take the keys of its unknown
nodes (`upgrade_tool.dialects.keys_of`), and `detect` them. Then:
- does some dialect explain every key (`Detection.fits`)?
- read again, leniently, with the best fitting dialect's schema: is anything still
  unknown (nested fields of fork messages are only seen now)?
- is the best candidate the dialect the file's repository implies (`EXPECTED`,
  from the MANIFEST's repo column; repositories whose fork is not shipped are
  absent, and then any answer is reported, not judged)?

    python bench/dialect_detection.py            # summary, then every file that is not a clean fit
    python bench/dialect_detection.py --all      # one line per file with unknown fields
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from upgrade_tool.binder import bind
from upgrade_tool.dialects import Detection, describe, detect, get_dialect, keys_of, load_index, used_keys
from upgrade_tool.errors import InputError
from upgrade_tool.pipeline import detect_kind
from upgrade_tool.reader import parse_tree
from upgrade_tool.schema import BVLC
from upgrade_tool.source import Source

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# Repository (MANIFEST `repo`) -> the dialects its files are written for. A set when
# several shipped schemas are that repository's Caffe (C3D ships two versions).
# BVLC/caffe is absent: the corpus files under it come from its many forks.
EXPECTED: dict[str, set[str]] = {
    "weiliu89/caffe": {"ssd"},
    "chuanqi305/MobileNet-SSD": {"ssd"},
    "chuanqi305/MobileNetv2-SSDLite": {"ssd"},
    "NVIDIA/caffe": {"nvcaffe"},
    "intel/caffe": {"intel"},
    "rbgirshick/py-faster-rcnn": {"faster-rcnn"},
    "YuwenXiong/py-R-FCN": {"rfcn"},
    "daijifeng001/R-FCN": {"rfcn-matlab"},
    "xmojiao/deeplab_v2": {"deeplab"},
    "TheLegendAli/DeepLab-Context": {"deeplab-context"},
    "alexgkendall/SegNet-Tutorial": {"segnet"},
    "alexgkendall/caffe-segnet": {"segnet"},
    "torrvision/crfasrnn": {"crfasrnn"},
    "yjxiong/temporal-segment-networks": {"tsn"},
    "yjxiong/caffe": {"tsn"},
    "hszhao/PSPNet": {"pspnet"},
    "CMU-Perceptual-Computing-Lab/caffe_train": {"openpose"},
    "CMU-Perceptual-Computing-Lab/caffe_rtpose": {"openpose-rtpose"},
    "eric612/MobileNet-YOLO": {"yolo"},
    "ShaoqingRen/SPP_net": {"sppnet"},
    "wy1iu/sphereface": {"sphereface"},
    "lim0606/caffe-googlenet-bn": {"googlenet-bn"},
    "HyeonwooNoh/DeconvNet": {"deconvnet"},
    "facebook/C3D": {"c3d", "c3d-v1.1"},
}


DETECTION_SECONDS: list[float] = []  # keys_of + used_keys + detect, per file with unknown nodes


@dataclass(frozen=True)
class Outcome:
    corpus: str
    file: str
    repo: str
    status: str  # "binary", "unreadable: ...", "no unknown", "detected"
    detection: Detection | None = None
    left: tuple[str, ...] = ()  # keys still unknown when read with the best fitting dialect


def examine(corpus: str, row: dict[str, str]) -> Outcome:
    path = SHARED / corpus / row["file"]
    data = path.read_bytes()
    name, repo = row["file"], row["repo"]
    if b"\0" in data[:4096] or path.suffix in (".caffemodel", ".binaryproto"):
        return Outcome(corpus, name, repo, "binary")
    try:
        text = Source.from_bytes(data).text
        tree = parse_tree(text)
        kind = detect_kind(tree, BVLC)
        message = BVLC.net() if kind.value == "net" else BVLC.solver()
        bound = bind(tree, message, text, strict=False)
    except InputError as exc:
        return Outcome(corpus, name, repo, f"unreadable: {exc.message}")
    if not bound.unknown:
        return Outcome(corpus, name, repo, "no unknown")
    started = time.perf_counter()
    detection = detect(keys_of(bound.message, bound.unknown, text), used_keys(bound.message, tree, text))
    DETECTION_SECONDS.append(time.perf_counter() - started)
    left: tuple[str, ...] = ()
    if detection.fits:
        schema = get_dialect(detection.fits[0].dialect).schema()
        try:
            tree = parse_tree(text)
            kind = detect_kind(tree, schema)
            fork_message = schema.net() if kind.value == "net" else schema.solver()
            again = bind(tree, fork_message, text, strict=False)
            left = tuple("/".join(key) for key in keys_of(again.message, again.unknown, text))
        except InputError as exc:
            left = (f"InputError: {exc.message}",)
    return Outcome(corpus, name, repo, "detected", detection, left)


def manifest(corpus: str) -> list[dict[str, str]]:
    with (SHARED / corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="one line per file with unknown fields")
    args = parser.parse_args(argv)
    if not (SHARED / "corpus" / "MANIFEST.tsv").is_file():
        print(f"the shared corpora are not at {SHARED} (../shared)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    load_index()
    print(f"index loaded in {1000 * (time.perf_counter() - started):.1f} ms\n")
    for corpus in ("corpus", "corpus2"):
        DETECTION_SECONDS.clear()
        outcomes = [examine(corpus, row) for row in manifest(corpus)]
        report(corpus, outcomes, args.all)
        total, worst = sum(DETECTION_SECONDS), max(DETECTION_SECONDS, default=0.0)
        files = len(DETECTION_SECONDS)
        average = 1000 * total / max(files, 1)
        print(f"detection (keys, used keys, ranking) on {files} files: {1000 * total:.0f} ms in all,")
        print(f"  {average:.2f} ms a file on average, {1000 * worst:.1f} ms at most\n")
    return 0


def report(corpus: str, outcomes: list[Outcome], show_all: bool) -> None:
    statuses = Counter(o.status if not o.status.startswith("unreadable") else "unreadable" for o in outcomes)
    detected = [o for o in outcomes if o.detection is not None]
    fitting = [o for o in detected if _fitting(o)]
    clean = [o for o in fitting if not o.left]
    judged = [o for o in detected if o.repo in EXPECTED]
    right = [o for o in judged if _best(o) in EXPECTED[o.repo]]
    among = [o for o in judged if EXPECTED[o.repo] & _fitting(o)]
    print(f"## {corpus}: {len(outcomes)} files")
    print(f"- {', '.join(f'{n} {s}' for s, n in statuses.most_common())}")
    print(f"- with unknown fields: {len(detected)}; some dialect explains every name: {len(fitting)}")
    print(f"- re-read leniently with the best fitting dialect, nothing unknown left: {len(clean)}")
    print(f"- from a repository whose dialect is shipped: {len(judged)}; best candidate is that dialect: {len(right)};")
    print(f"  that dialect is among those explaining every name: {len(among)}")
    print(f"- best candidate, files: {dict(Counter(_best(o) for o in detected).most_common())}")
    print("\nNo dialect explains every name (files, repository, why):")
    groups = Counter((o.repo, _why(o)) for o in detected if not _fitting(o))
    for (repo, why), count in sorted(groups.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {count:3d}  {repo}: {why}")
    print("\nA dialect explains every name, but not the repository's, or the re-read found more:")
    for o in detected:
        expected = EXPECTED.get(o.repo)
        odd = _fitting(o) and (o.left or (expected is not None and _best(o) not in expected))
        if show_all or odd:
            assert o.detection is not None
            wanted = "/".join(sorted(expected)) if expected else "not shipped"
            left = f" | re-read with {_best(o)}: {', '.join(o.left[:3])}" if o.left else ""
            print(f"  {o.file} [{o.repo} -> {wanted}] {o.detection.reason}{left}")
    print()


def _why(outcome: Outcome) -> str:
    detection = outcome.detection
    assert detection is not None
    if detection.unknown:
        return "no dialect knows " + ", ".join(sorted({describe(key) for key in detection.unknown}))
    return "known, but to different dialects: " + detection.reason


def _best(outcome: Outcome) -> str:
    best = outcome.detection.best if outcome.detection else None
    return best.dialect if best else "-"


def _fitting(outcome: Outcome) -> set[str]:
    return {c.dialect for c in outcome.detection.fits} if outcome.detection else set()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
