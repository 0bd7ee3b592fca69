"""Telling deploy, train, test and train_val nets apart from the net itself."""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from upgrade_tool import caffe_pb2
from upgrade_tool.dialects import get_dialect
from upgrade_tool.netrole import Role, classify

DATA = 'layer { name: "data" type: "Data" top: "data" top: "label" }\n'
CONV = 'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" }\n'
LOSS = 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "conv" bottom: "label" top: "loss" }\n'
TRAIN_DATA = 'layer { name: "data" type: "Data" top: "data" include { phase: TRAIN } }\n'
TEST_DATA = 'layer { name: "data" type: "Data" top: "data" include { phase: TEST } }\n'

CASES = [
    pytest.param('input: "data"\n' + CONV, Role.DEPLOY, id="input fields and no data or loss: deploy"),
    pytest.param('layer { name: "in" type: "Input" top: "data" }\n' + CONV, Role.DEPLOY, id="an Input layer: deploy"),
    pytest.param(DATA + CONV + LOSS, Role.TRAIN, id="data and a loss, no phase rules: train"),
    pytest.param(TRAIN_DATA + TEST_DATA + CONV + LOSS, Role.TRAIN_VAL, id="TRAIN-only and TEST-only layers: train_val"),
    pytest.param(TEST_DATA + CONV + LOSS, Role.TEST, id="only TEST-only data: test"),
    pytest.param(
        DATA + CONV + LOSS + 'layer { name: "acc" type: "Accuracy" bottom: "conv" include { phase: TEST } }\n',
        Role.TRAIN_VAL,
        id="data and a loss for both phases and a TEST-only accuracy: train_val",
    ),
    pytest.param(
        DATA + CONV + 'layer { name: "loss" type: "EuclideanLoss" bottom: "conv" include { phase: TEST } }\n',
        Role.TEST,
        id="a TEST-only loss: test",
    ),
    pytest.param(DATA + CONV, Role.TEST, id="data but no loss: test (feature extraction)"),
    pytest.param(
        'input: "data"\n' + CONV + 'layer { name: "l" type: "Python" bottom: "conv" loss_weight: 1 }\n',
        Role.TRAIN,
        id="inputs and a python loss by loss_weight: train",
    ),
    pytest.param('state { phase: TRAIN }\ninput: "data"\n' + CONV, Role.TRAIN, id="the net's state decides"),
    pytest.param(CONV, Role.UNKNOWN, id="a fragment: unknown"),
    pytest.param(
        'layer { name: "d" type: "Data" top: "data" exclude { phase: TEST } }\n' + TEST_DATA + CONV + LOSS,
        Role.TRAIN_VAL,
        id="exclude TEST means TRAIN-only",
    ),
    pytest.param(
        'input: "data"\nlayer { name: "p" type: "Parameter" top: "w" }\n' + CONV,
        Role.DEPLOY,
        id="a Parameter layer is not data",
    ),
]


EMBEDDED = [
    pytest.param("train_net_param", DATA + CONV, Role.TRAIN, id="a solver's train_net_param is trained"),
    pytest.param("test_net_param", DATA + CONV + LOSS, Role.TEST, id="a solver's test_net_param is tested"),
    pytest.param("net_param", TRAIN_DATA + TEST_DATA + CONV + LOSS, Role.TRAIN_VAL, id="net_param is read as a net"),
]


@pytest.mark.parametrize(("field", "text", "role"), EMBEDDED)
def test_the_role_of_a_net_in_a_solver(field: str, text: str, role: Role) -> None:
    net = text_format.Parse(text, caffe_pb2.NetParameter())
    assert classify(net, field).role is role


@pytest.mark.parametrize(("text", "role"), CASES)
def test_net_role(text: str, role: Role) -> None:
    net = text_format.Parse(text, caffe_pb2.NetParameter())
    decided = classify(net)
    assert decided.role is role
    assert decided.reason.startswith(role.value) or role is Role.UNKNOWN


def test_only_train_and_train_val_nets_are_trained() -> None:
    assert [role for role in Role if role.trains] == [Role.TRAIN, Role.TRAIN_VAL]


def test_an_old_forks_net_without_state_phase_rules_or_loss_weights() -> None:
    schema = get_dialect("c3d").schema()  # C3D v1.0: V1 layers with neither include, exclude nor loss_weight
    text = 'layers { name: "data" type: VIDEO_DATA top: "data" top: "label" }\nlayers { name: "fc" bottom: "data" }\n'
    net = text_format.Parse(text, schema.net())
    assert classify(net).role is Role.TEST
