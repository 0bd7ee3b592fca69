"""The dialects package: the registry, its shipped data, BatchNorm answers, detection and did-you-mean.

Most cases are tables, one row per fact, so they read side by side. Tests that
need the shared facts or corpora (`../shared`) skip with a message naming it.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REPO, SHARED

from upgrade_tool import dialects, schema
from upgrade_tool.binder import bind
from upgrade_tool.dialects import (
    Detection,
    Key,
    Masks,
    UnknownDialectError,
    all_dialects,
    batchnorm_engine,
    describe_batchnorm,
    detect,
    get_dialect,
    keys_of,
    list_dialects_lines,
    markdown_table,
    suggest,
    used_keys,
)
from upgrade_tool.dialects.data_files import parse_tsv, read_bytes, read_text
from upgrade_tool.dialects.index import Index
from upgrade_tool.pipeline import detect_kind
from upgrade_tool.reader import parse_tree
from upgrade_tool.schema import Schema
from upgrade_tool.source import Source

DATA = REPO / "upgrade_tool" / "dialects" / "data"
FACTS = SHARED / "schema"
needs_facts = pytest.mark.skipif(
    not (FACTS / "forks" / "README.md").is_file(), reason=f"the schema facts are not at {FACTS} (../shared)"
)
needs_corpora = pytest.mark.skipif(
    not (SHARED / "corpus2" / "MANIFEST.tsv").is_file(), reason=f"the corpora are not at {SHARED} (../shared)"
)

LP, V1, BNP = "caffe.LayerParameter", "caffe.V1LayerParameter", "caffe.BatchNormParameter"
MBLP = "caffe.MultiBoxLossParameter"

# ---------------------------------------------------------------------------- the registry

ORDER = [
    "bvlc", "ssd", "nvcaffe", "intel", "faster-rcnn", "rfcn", "rfcn-matlab", "deeplab", "deeplab-context",
    "segnet", "crfasrnn", "tsn", "pspnet", "openpose", "openpose-rtpose", "yolo", "sppnet", "sphereface",
    "googlenet-bn", "deconvnet", "c3d", "c3d-v1.1", "faster-rcnn-matlab",
]  # fmt: skip
PRE_V2 = {"deeplab-context", "sppnet", "deconvnet", "c3d"}


def test_the_registry_lists_all_23_dialects_bvlc_first_in_a_fixed_order() -> None:
    assert [d.name for d in all_dialects()] == ORDER


def test_every_dialect_says_where_its_schema_comes_from() -> None:
    for d in all_dialects():
        assert d.title and d.licence and d.proto.endswith("caffe.proto"), d
        assert len(d.commit) == 40 and d.origin == f"{d.repository}@{d.commit[:7]}", d
    ssd = get_dialect("ssd")
    assert (ssd.repository, ssd.ref, ssd.commit[:7]) == ("weiliu89/caffe", "ssd", "4817bf8")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("nvcafe", "unknown dialect 'nvcafe' (did you mean 'nvcaffe'?)", id="a misspelling is corrected"),
        pytest.param("SSD", "unknown dialect 'SSD' (did you mean 'ssd'?)", id="names are lower case"),
        pytest.param("rfcn_matlab", "unknown dialect 'rfcn_matlab' (did you mean 'rfcn-matlab'?)", id="dash, not _"),
        pytest.param("tensorflow", "unknown dialect 'tensorflow' (known: bvlc, ssd, nvcaffe,", id="far: lists all"),
    ],
)
def test_an_unknown_dialect_name_is_an_error_with_a_did_you_mean(name: str, message: str) -> None:
    with pytest.raises(UnknownDialectError) as caught:
        get_dialect(name)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


def test_pre_v2_is_true_exactly_for_the_forks_without_a_layer_field() -> None:
    assert {d.name for d in all_dialects() if d.pre_v2} == PRE_V2
    for d in all_dialects():
        assert ("layer" not in d.schema().net.DESCRIPTOR.fields_by_name) == d.pre_v2, d.name


@pytest.mark.parametrize("name", ORDER)
def test_each_schema_loads_with_its_net_and_solver_and_is_built_once(name: str) -> None:
    loaded = get_dialect(name).schema()
    assert isinstance(loaded, Schema)
    assert loaded.net.DESCRIPTOR.full_name == "caffe.NetParameter"
    assert loaded.solver.DESCRIPTOR.full_name == "caffe.SolverParameter"
    assert get_dialect(name).schema() is loaded


def test_bvlc_is_the_compiled_schema_and_loads_no_data(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    monkeypatch.setattr(dialects.registry, "read_bytes", lambda name: read.append(name) or b"")
    dialects.registry._schema.cache_clear()
    assert get_dialect("bvlc").schema() is schema.BVLC
    assert read == []
    with pytest.raises(KeyError):  # a fork reads its descriptor set, here an empty one
        get_dialect("c3d").schema()
    assert read == ["c3d.pb"]


def test_a_fork_schema_reads_its_own_fields() -> None:
    text = 'layer { name: "loss" type: "MultiBoxLoss" multibox_loss_param { num_classes: 21 } }'
    net = get_dialect("ssd").schema().net()
    bound = bind(parse_tree(text), net, text)
    assert bound.message.layer[0].multibox_loss_param.num_classes == 21  # type: ignore[attr-defined]


def test_importing_the_package_loads_none_of_its_data() -> None:
    probe = (
        "import upgrade_tool.dialects as d, upgrade_tool.dialects.registry as r, upgrade_tool.dialects.tables as t\n"
        "caches = [d.load_index, d.all_dialects, r._schema, t.v1_types, t.batchnorm_rows]\n"
        "print([c.cache_info().currsize for c in caches])"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert run.stdout.strip() == "[0, 0, 0, 0, 0]"


# ---------------------------------------------------------------------------- V1 layer types


@pytest.mark.parametrize("name", ORDER)
def test_v1_tables_are_the_shipped_tsv_rows(name: str) -> None:
    rows = parse_tsv(read_text(f"{name}.v1-types.tsv"))
    table = get_dialect(name).v1_types()
    assert list(table) == [row["enum_name"] for row in rows]
    for row in rows:
        entry = table[row["enum_name"]]
        assert (entry.type_string, entry.source, entry.evidence, entry.number) == (
            row["type_string"], row["source"], row["evidence"], int(row["enum_number"])
        )  # fmt: skip


@pytest.mark.parametrize("name", ORDER)
def test_v1_tables_name_every_value_of_the_schemas_v1_type_enum(name: str) -> None:
    d = get_dialect(name)
    layers = d.schema().net.DESCRIPTOR.fields_by_name["layers"].message_type
    enum = layers.fields_by_name["type"].enum_type
    assert {v.name: v.number for v in enum.values} == {n: t.number for n, t in d.v1_types().items()}


@pytest.mark.skipif(not (SHARED / "caffe-tests" / "CASES.tsv").is_file(), reason=f"no caffe-tests at {SHARED}")
def test_bvlcs_v1_table_is_what_caffes_own_upgrade_test_expects() -> None:
    cases = (SHARED / "caffe-tests" / "CASES.tsv").read_text(encoding="utf-8")
    expected = dict(re.findall(r"UpgradeV1LayerType\((\w+)=\d+\) -> '(\w*)'", cases))
    assert len(expected) == 40
    assert {name: t.type_string for name, t in get_dialect("bvlc").v1_types().items()} == expected


@pytest.mark.parametrize(
    ("dialect", "enum", "type_string", "source", "number"),
    [
        ("bvlc", "SOFTMAX_LOSS", "SoftmaxWithLoss", "upgrade_proto", 21),
        ("deconvnet", "BN", "BN", "registered_class", 43),
        ("deconvnet", "UNPOOLING", "Unpooling", "registered_class", 42),
        ("deeplab-context", "IMAGE_SEG_DATA", "ImageSegData", "registered_class", 39),
        ("deeplab-context", "INTERP", "Interp", "registered_class", 41),
        ("c3d", "CONVOLUTION3D", "Convolution3D", "registered_class", 30),
        ("yolo", "RELU6", "ReLU6", "registered_class", 61),
        ("faster-rcnn-matlab", "ROIPOOLING", "ROIPooling", "registered_class", 41),
        ("sppnet", "THRESHOLD", "", "none", 31),
    ],
)
def test_v1_fork_types(dialect: str, enum: str, type_string: str, source: str, number: int) -> None:
    entry = get_dialect(dialect).v1_types()[enum]
    assert (entry.type_string, entry.source, entry.number) == (type_string, source, number)
    assert entry.evidence and entry.derived == (source == "registered_class")


# ---------------------------------------------------------------------------- BatchNorm


def test_batchnorm_rows_keep_every_column_of_every_row() -> None:
    lines = read_text("batchnorm.tsv").splitlines()[1:]
    rows = [row for d in all_dialects() for row in d.batchnorm()]
    assert sorted(tuple(line.split("\t")) for line in lines) == sorted(
        (r.dialect, r.layer_type, r.engine, r.condition, r.blobs, r.blob_order, r.learnable_blobs,
         r.masks_statistics, r.how, r.source) for r in rows
    )  # fmt: skip
    assert get_dialect("c3d").batchnorm() == ()


BN_SOURCE = "src/caffe/layers/batch_norm_layer.cpp"

# dialect, engine, layer type -> does it mask its statistics itself, does it force its rates, where
MASKS = [
    ("bvlc", None, "BatchNorm", Masks.YES, False, f"{BN_SOURCE}:40"),
    ("ssd", None, "BatchNorm", Masks.YES, False, f"{BN_SOURCE}:40"),
    ("yolo", None, "BatchNorm", Masks.YES, False, f"{BN_SOURCE}:40"),
    ("faster-rcnn", None, "BatchNorm", Masks.NO, False, f"{BN_SOURCE}:25"),
    ("rfcn", None, "BatchNorm", Masks.NO, False, f"{BN_SOURCE}:25"),
    ("googlenet-bn", None, "BatchNorm", Masks.NO, False, f"{BN_SOURCE}:25"),
    ("deeplab", None, "BatchNorm", Masks.NO, False, f"deeplab-public-ver2/{BN_SOURCE}:27"),
    ("pspnet", None, "BatchNorm", Masks.NO, False, f"{BN_SOURCE}:27"),
    ("intel", None, "BatchNorm", Masks.NO, False, f"{BN_SOURCE}:63"),
    ("intel", "DEFAULT", "BatchNorm", Masks.NO, False, f"{BN_SOURCE}:63"),
    ("intel", "CAFFE", "BatchNorm", Masks.NO, False, f"{BN_SOURCE}:63"),
    ("intel", "MKL2017", "BatchNorm", Masks.YES, False, "src/caffe/layers/mkl_batch_norm_layer.cpp:195"),
    ("intel", "MKLDNN", "BatchNorm", Masks.YES, False, "src/caffe/layers/mkldnn_batch_norm_layer.cpp:145"),
    ("intel", "mkldnn:cpu", "BatchNorm", Masks.YES, False, "src/caffe/layers/mkldnn_batch_norm_layer.cpp:145"),
    ("intel", "CUDNN", "BatchNorm", Masks.NOT_APPLICABLE, False, ""),
    ("nvcaffe", None, "BatchNorm", Masks.YES, True, f"{BN_SOURCE}:91"),
    ("nvcaffe", "CUDNN", "BatchNorm", Masks.YES, True, f"{BN_SOURCE}:91"),
    ("pspnet", None, "BN", Masks.YES, True, "src/caffe/layers/bn_layer.cpp:48"),
    ("tsn", None, "BN", Masks.YES, True, "src/caffe/layers/bn_layer.cpp:46"),
    ("segnet", None, "BN", Masks.NOT_APPLICABLE, False, "src/caffe/layers/bn_layer.cpp:65"),
    ("deconvnet", None, "BN", Masks.NOT_APPLICABLE, False, "src/caffe/layers/bn_layer.cpp:78"),
    ("segnet", None, "BatchNorm", Masks.NOT_APPLICABLE, False, ""),
    ("c3d", None, "BatchNorm", Masks.NOT_APPLICABLE, False, ""),
]


@pytest.mark.parametrize(("dialect", "engine", "layer_type", "masks", "forces", "source"), MASKS)
def test_whose_batchnorm_masks_its_statistics(
    dialect: str, engine: str | None, layer_type: str, masks: Masks, forces: bool, source: str
) -> None:
    answer = get_dialect(dialect).masks_statistics(engine, layer_type)
    assert (answer.masks, answer.forces_rates, answer.source) == (masks, forces, source)
    assert answer.reason.startswith(dialect)


@pytest.mark.parametrize(
    ("dialect", "engine", "reason"),
    [
        ("intel", None, "intel's BatchNorm (engine CAFFE, the default) does not mask its statistics: the net's"),
        ("intel", "MKL2017", "intel's BatchNorm (engine MKL2017) masks its statistics itself (src/caffe/layers/mkl_"),
        ("nvcaffe", None, "nvcaffe's BatchNorm (engine CAFFE or CUDNN) forces its own rates whatever the file says"),
        ("bvlc", None, f"bvlc's BatchNorm masks its statistics itself ({BN_SOURCE}:40)"),
        ("intel", "FOO", "intel's BatchNorm has no engine 'FOO' (it has CAFFE, MKL2017, MKLDNN)"),
        ("c3d", None, "c3d has no BatchNorm layer"),
    ],
)
def test_a_batchnorm_answer_gives_its_reason_in_one_line(dialect: str, engine: str | None, reason: str) -> None:
    assert get_dialect(dialect).masks_statistics(engine).reason.startswith(reason)


@pytest.mark.parametrize(
    ("param_engine", "layer_engine", "net_engine", "engine"),
    [
        pytest.param(None, None, None, "CAFFE", id="nothing named: CAFFE"),
        pytest.param("DEFAULT", None, None, "CAFFE", id="DEFAULT: CAFFE"),
        pytest.param("MKL2017", None, None, "MKL2017", id="batch_norm_param.engine"),
        pytest.param("DEFAULT", "MKLDNN", None, "MKLDNN", id="the layer's engine string"),
        pytest.param(None, "", "MKL2017", "MKL2017", id="the net's engine string"),
        pytest.param("CAFFE", "MKLDNN", "MKL2017", "CAFFE", id="batch_norm_param.engine wins"),
        pytest.param(None, "MKLDNN:CPU", None, "MKLDNN", id="an engine string with options"),
    ],
)
def test_intels_batchnorm_engine(
    param_engine: str | None, layer_engine: str | None, net_engine: str | None, engine: str
) -> None:
    assert batchnorm_engine(param_engine, layer_engine, net_engine) == engine


@pytest.mark.parametrize(
    ("dialect", "behaviour"),
    [
        ("bvlc", "masks statistics"),
        ("nvcaffe", "forces its own rates"),
        ("faster-rcnn", "needs zero-rate blocks"),
        ("intel", "needs zero-rate blocks (engine CAFFE, the default); MKL2017, MKLDNN: masks statistics"),
        ("pspnet", "needs zero-rate blocks; BN: forces zero rates on its statistics"),
        ("tsn", "no BatchNorm; BN: forces zero rates on its statistics; SyncBN: forces zero rates on its statistics"),
        ("segnet", "no BatchNorm; BN: no statistics"),
        ("deeplab-context", "no BatchNorm"),
    ],
)
def test_each_dialects_batchnorm_behaviour_in_a_phrase(dialect: str, behaviour: str) -> None:
    assert describe_batchnorm(dialect, get_dialect(dialect).batchnorm()) == behaviour


def test_batchnorm_sources_are_read_as_file_and_line() -> None:
    row = get_dialect("nvcaffe").batchnorm()[1]
    assert [(str(ref), ref.what) for ref in row.sources] == [
        (f"{BN_SOURCE}:29", "implicit"), (f"{BN_SOURCE}:36", "blobs"), (f"{BN_SOURCE}:101", "lr 1")
    ]  # fmt: skip
    assert row.blob_counts == (5,) and row.engines == ("CAFFE", "CUDNN")


# ---------------------------------------------------------------------------- detection from keys

# what a file's unknown names are -> the best dialect, every dialect that explains them all, and (part of) the reason
DETECTIONS: list[tuple[str, list[Key], str | None, list[str], str]] = [
    (
        "SSD's layers",
        [(LP, "multibox_loss_param"), (LP, "prior_box_param")],
        "ssd", ["ssd", "yolo", "intel", "nvcaffe"],
        "ssd: explains multibox_loss_param, prior_box_param (also yolo, intel, nvcaffe; ssd has the fewest",
    ),
    (
        "R-FCN's psroi_pooling_param: a tie, the smallest fork vocabulary wins",
        [(LP, "psroi_pooling_param")],
        "rfcn-matlab", ["rfcn-matlab", "rfcn", "intel"],
        "rfcn-matlab: explains psroi_pooling_param (also rfcn, intel; rfcn-matlab has the fewest fork-specific",
    ),
    (
        "NVIDIA's BatchNorm scale_bias",
        [(BNP, "scale_bias")],
        "nvcaffe", ["nvcaffe"], "nvcaffe: explains BatchNormParameter.scale_bias",
    ),
    (
        "Intel's engine: MKL2017 in batch_norm_param (NVIDIA's engine enum lacks the value)",
        [(BNP, "engine"), (BNP, "engine", "MKL2017")],
        "intel", ["intel"], "intel: explains BatchNormParameter.engine: MKL2017",
    ),
    (
        "DeepLab-Context's V1 types IMAGE_SEG_DATA and INTERP",
        [(V1, "type", "IMAGE_SEG_DATA"), (V1, "type", "INTERP")],
        "deeplab-context", ["deeplab-context"], "deeplab-context: explains type: IMAGE_SEG_DATA, type: INTERP",
    ),
    (
        "SegNet's bn_param and upsample_param",
        [(LP, "bn_param"), (LP, "upsample_param")],
        "segnet", ["segnet"], "segnet: explains bn_param, upsample_param",
    ),
    (
        "TSN's bn_param { frozen }: the names inside decide against SegNet's BNParameter",
        [(LP, "bn_param"), ("caffe.BNParameter", "frozen")],
        "tsn", ["tsn", "pspnet"], "tsn: explains bn_param (+1 inside) (also pspnet;",
    ),
    (
        "C3D's V1 type CONVOLUTION3D",
        [(V1, "type", "CONVOLUTION3D")],
        "c3d", ["c3d"], "c3d: explains type: CONVOLUTION3D",
    ),
    (
        "a misspelt field nobody knows",
        [("caffe.ConvolutionParameter", "num_ouput")],
        None, [], "no shipped dialect knows ConvolutionParameter.num_ouput",
    ),
    (
        "a misspelt field inside a fork's message",
        [(LP, "multibox_loss_param"), (MBLP, "num_clases")],
        "ssd", [], "; not MultiBoxLossParameter.num_clases (known to no dialect)",
    ),
    ("no keys", [], None, [], "no names beyond the schema's: nothing to detect"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("keys", "best", "fits", "reason"), [pytest.param(*case[1:], id=case[0]) for case in DETECTIONS]
)
def test_detection(keys: list[Key], best: str | None, fits: list[str], reason: str) -> None:
    found = detect(keys)
    assert (found.best.dialect if found.best else None) == best
    assert [c.dialect for c in found.fits] == fits
    assert reason in found.reason


def test_detection_says_which_dialects_know_each_key_and_which_none() -> None:
    found = detect([(LP, "roi_pooling_param"), (LP, "nonsense_param"), (LP, "roi_pooling_param")])
    assert found.keys == ((LP, "roi_pooling_param"), (LP, "nonsense_param"))
    assert found.known_by[(LP, "roi_pooling_param")] == (
        "intel", "faster-rcnn", "rfcn", "rfcn-matlab", "tsn", "faster-rcnn-matlab"
    )  # fmt: skip
    assert found.unknown == ((LP, "nonsense_param"),)
    assert found.fits == ()


def test_a_dialect_lacking_a_field_the_file_uses_ranks_after_one_that_has_it() -> None:
    keys: list[Key] = [(LP, "upsample_param")]
    assert detect(keys).best.dialect == "segnet"  # type: ignore[union-attr]
    found = detect(keys, used=[(LP, "batch_norm_param"), (LP, "name")])
    assert [c.dialect for c in found.fits] == ["yolo"]
    assert found.candidates[1].dialect == "segnet" and found.candidates[1].lacks == ((LP, "batch_norm_param"),)


def test_ranking_on_a_small_index_most_keys_then_vocabulary_then_order() -> None:
    index = Index(("bvlc", "a", "b", "c"), (0, 5, 3, 3), {"M\tx": 0b0110, "M\ty": 0b1110, "M\tz": 0b0010}, {})
    assert [c.dialect for c in detect([("M", "x"), ("M", "z")], index=index).candidates] == ["a", "b"]
    assert [c.dialect for c in detect([("M", "y")], index=index).candidates] == ["b", "c", "a"]


# ---------------------------------------------------------------------------- keys from text


def bvlc_keys(text: str) -> tuple[tuple[Key, ...], tuple[Key, ...]]:
    """The unknown and the used keys of a net read leniently with BVLC's schema."""
    tree = parse_tree(text)
    bound = bind(tree, schema.BVLC.net(), text, strict=False)
    return keys_of(bound.message, bound.unknown, text), used_keys(bound.message, tree, text)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        pytest.param(
            "layer { multibox_loss_param { num_classes: 21 loc_loss_type: SMOOTH_L1 } }",
            [(LP, "multibox_loss_param"), (MBLP, "num_classes"), (MBLP, "loc_loss_type"),
             (MBLP, "loc_loss_type", "SMOOTH_L1")],
            id="a fork's field, and the fields inside it",
        ),
        pytest.param("layers { type: BN }", [(V1, "type", "BN")], id="an enum value BVLC lacks"),
        pytest.param("layers { type: 43 }", [(V1, "type", "43")], id="an enum number BVLC lacks"),
        pytest.param(
            "layer { batch_norm_param { engine: MKL2017 use_weight_bias: true slope: inf } }",
            [(BNP, "engine"), (BNP, "engine", "MKL2017"), (BNP, "use_weight_bias"), (BNP, "slope")],
            id="a bare word given to an unknown field is an enum value; true and inf are not",
        ),
        pytest.param(
            "layer { transform_param { resize_param { prob: 1 } resize_param { prob: 0.5 } } }",
            [("caffe.TransformationParameter", "resize_param"), ("caffe.TransformationParameter", "resize_param", "[]"),
             ("caffe.ResizeParameter", "prob")],
            id="a field given twice says it is repeated",
        ),
        pytest.param("layer { convolution_param { num_ouput: 16 } }", [("caffe.ConvolutionParameter", "num_ouput")],
                     id="a typo in a BVLC message"),
        pytest.param('layer { name: "a" type: "ReLU" }', [], id="nothing unknown"),
    ],
)  # fmt: skip
def test_keys_of_a_bvlc_reading(text: str, keys: list[Key]) -> None:
    assert list(bvlc_keys(text)[0]) == keys


def test_used_keys_are_the_known_fields_and_enum_values() -> None:
    _, used = bvlc_keys('layers { name: "a" type: CONVOLUTION bottom: "x" bottom: "y" }')
    assert used == (
        ("caffe.NetParameter", "layers"),
        (V1, "name"), (V1, "type"), (V1, "bottom"), (V1, "type", "CONVOLUTION"), (V1, "bottom", "[]"),
    )  # fmt: skip


def test_a_pre_v2_forks_layer_message_is_keyed_as_bvlcs_v1_layer() -> None:
    text = "layers { type: INTERP interp_parm { zoom_factor: 8 } }"
    net = get_dialect("deeplab-context").schema().net()
    bound = bind(parse_tree(text), net, text, strict=False)
    assert net.DESCRIPTOR.fields_by_name["layers"].message_type.full_name == LP
    assert keys_of(bound.message, bound.unknown, text) == ((V1, "interp_parm"),)
    assert detect([(V1, "interp_param")]).best.dialect == "deeplab-context"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- detection on real files

# a corpus file -> the dialect detection picks (the one its repository implies) and others that also fit
CORPUS_CASES = [
    ("corpus", "chuanqi305__MobileNet-SSD/deploy.prototxt", "ssd", {"yolo", "intel", "nvcaffe"}),
    ("corpus", "NVIDIA__caffe/examples/TensorRT/deploy_trt.prototxt", "nvcaffe", set()),
    ("corpus", "YuwenXiong__py-R-FCN/models/coco/ResNet-101/rfcn_alt_opt_5step_ohem/rfcn_test.pt",
     "rfcn-matlab", {"rfcn", "intel"}),  # R-FCN's Caffe fits too: same names, the tie-break picks the smaller fork
    ("corpus", "TheLegendAli__DeepLab-Context/voc12/config/vgg128_noup/deploy.prototxt", "deeplab-context", set()),
    ("corpus", "alexgkendall__SegNet-Tutorial/Example_Models/bayesian_segnet_camvid.prototxt", "segnet", set()),
    ("corpus", "hszhao__PSPNet/evaluation/prototxt/pspnet101_VOC2012_473.prototxt", "pspnet", set()),
    ("corpus", "eric612__MobileNet-YOLO/models/cityscapes/mobilenet_yolov3_test.prototxt", "yolo", set()),
    ("corpus", "wy1iu__sphereface/train/code/sphereface_model.prototxt", "sphereface", set()),
    ("corpus2", "intel__caffe/models/intel_optimized_models/multinode/resnet_50_128_nodes_4k_batch/train_val.prototxt",
     "intel", set()),
    ("corpus2", "HyeonwooNoh__DeconvNet/model/DeconvNet/DeconvNet_inference_deploy.prototxt", "deconvnet", set()),
    ("corpus2", "facebook__C3D/C3D-v1.0/examples/c3d_feature_extraction/prototxt/"
     "c3d_fbvideo_feature_extractor_frm.prototxt", "c3d", set()),
    ("corpus2", "facebook__C3D/C3D-v1.1/examples/c3d_ucf101_finetuning/train_resnet18_r2.prototxt", "c3d-v1.1", set()),
    ("corpus2", "CMU-Perceptual-Computing-Lab__caffe_rtpose/model/coco/pose_deploy_linevec.prototxt",
     "openpose-rtpose", set()),
]  # fmt: skip


def read_leniently(text: str, with_schema: Schema) -> tuple[tuple[Key, ...], tuple[Key, ...]]:
    tree = parse_tree(text)
    kind = detect_kind(tree, with_schema)
    message = with_schema.net() if kind.value == "net" else with_schema.solver()
    bound = bind(tree, message, text, strict=False)
    return keys_of(bound.message, bound.unknown, text), used_keys(bound.message, tree, text)


@needs_corpora
@pytest.mark.parametrize(
    ("corpus", "name", "best", "also"), [pytest.param(*case, id=case[1].split("__")[0]) for case in CORPUS_CASES]
)
def test_detection_picks_the_dialect_a_corpus_files_repository_implies(
    corpus: str, name: str, best: str, also: set[str]
) -> None:
    text = Source.from_bytes((SHARED / corpus / name).read_bytes()).text
    found: Detection = detect(*read_leniently(text, schema.BVLC))
    assert found.best is not None and found.best.dialect == best, found.reason
    assert {c.dialect for c in found.fits} == {best} | also, found.reason
    assert read_leniently(text, get_dialect(best).schema())[0] == ()  # read with it: nothing unknown


# ---------------------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    ("name", "known", "suggestion"),
    [
        pytest.param("num_ouput", ["num_output", "bias_term", "pad"], "num_output", id="a dropped letter"),
        pytest.param("num_clases", ["num_classes", "share_location"], "num_classes", id="a missing letter"),
        pytest.param("Num_Output", ["num_output"], "num_output", id="case alone"),
        pytest.param("nvcafe", ORDER, "nvcaffe", id="a dialect"),
        pytest.param("kernel", ["num_output", "bias_term"], None, id="nothing close"),
        pytest.param("num_output", ["num_output"], None, id="a known name needs no suggestion"),
        pytest.param("lr_mul", ["lr_mult", "lr_mul2"], "lr_mult", id="a tie goes to the first given"),
        pytest.param("x", [], None, id="nothing known"),
    ],
)
def test_suggest(name: str, known: list[str], suggestion: str | None) -> None:
    assert suggest(name, known) == suggestion


# ---------------------------------------------------------------------------- listing and README


def test_list_dialects_prints_two_lines_per_dialect() -> None:
    lines = list_dialects_lines()
    assert len(lines) == 2 * len(ORDER)
    for d, first, second in zip(all_dialects(), lines[::2], lines[1::2], strict=True):
        assert first.split()[:3] == [d.name, d.origin, "pre-V2" if d.pre_v2 else "V2"]
        assert second.strip() == f"{d.title}; licence {d.licence}"
    assert lines[4].endswith("BatchNorm forces its own rates") and lines[4].startswith("nvcaffe ")
    assert lines[16].endswith("no BatchNorm") and lines[16].startswith("deeplab-context ")


def test_readme_ends_with_the_dialects_table_from_the_registry() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Dialects\n") :]
    assert "\n## " not in section[1:], "## Dialects is the README's last section"
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    assert table == markdown_table(), "the table is stale: run `python proto/build_dialects.py --readme`"


# ---------------------------------------------------------------------------- the shipped data


def load_build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dialects", REPO / "proto" / "build_dialects.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("argv", "code"), [(["--help"], 0), (["--bogus"], 2), (["a", "b"], 2)])
def test_the_build_script_prints_its_usage_for_an_option_it_does_not_take(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert load_build_script().main(argv) == code
    assert "python proto/build_dialects.py --readme" in capsys.readouterr().err


@needs_facts
def test_the_shipped_data_is_what_the_build_script_makes_from_the_facts() -> None:
    built: dict[str, bytes] = load_build_script().build(FACTS)
    assert sorted(built) == sorted(path.name for path in DATA.iterdir()), "run `python proto/build_dialects.py`"
    for name, data in built.items():
        assert read_bytes(name) == data, f"{name} is stale: run `python proto/build_dialects.py`"


@needs_facts
@pytest.mark.parametrize("name", ORDER)
def test_the_fact_tables_are_shipped_byte_for_byte(name: str) -> None:
    assert read_bytes(f"{name}.v1-types.tsv") == (FACTS / "forks" / f"{name}.v1-types.tsv").read_bytes()


def test_pyproject_ships_every_data_file() -> None:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["upgrade_tool.dialects"]
    for path in DATA.iterdir():
        assert any(fnmatch.fnmatch(f"data/{path.name}", pattern) for pattern in patterns), path.name


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="building a wheel needs setuptools")
def test_a_wheel_installed_without_the_source_tree_has_the_data(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "upgrade_tool", source / "upgrade_tool", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "wheel", source], check=True)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", tmp_path / "site", wheel], check=True)
    probe = (
        "import upgrade_tool.dialects as d\n"
        "print(d.__file__)\n"
        "print(len(d.all_dialects()), d.get_dialect('intel').schema().origin, len(d.load_index().masks) > 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    where, facts = run.stdout.splitlines()
    assert Path(where).is_relative_to(tmp_path / "site")
    assert facts == "23 intel caffe.proto (intel/caffe@44d5363) True"
