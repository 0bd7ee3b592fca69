"""What a net is for, told from the net itself: deploy, train, test, or train and test in one.

Caffe has no field that says so; the layers do. The decision, in order:

1. A solver's `train_net_param` is trained and its `test_net_param` tested,
   whatever they hold (Caffe's `Solver::InitTrainNet`, `InitTestNets`); its
   `net_param` serves both phases and is decided as a net file is.
2. `state { phase: ... }` at the top of the net fixes the phase the net runs in
   (TRAIN: a training net; TEST: a test net).
3. *Sources* are layers that make blobs from nothing: no bottom, at least one
   top, and not `Input` (an `Input` layer is fed by the caller) or `Parameter`
   (a learnable blob, not data). Data layers of every kind are sources: `Data`,
   `ImageData`, `HDF5Data`, a fork's `AnnotatedData`, a `Python` data layer.
4. *Losses* are layers whose type ends in `Loss` (`SoftmaxWithLoss`,
   `MultiBoxLoss`, ...) or that give a nonzero `loss_weight`.
5. *Inputs* are top-level `input` fields or `Input` layers.
6. A layer is TRAIN-only or TEST-only by an `include { phase: ... }` rule, or
   by an `exclude` rule naming the other phase.

Then: inputs with no source and no loss -> DEPLOY; both TRAIN-only and TEST-only
layers -> TRAIN_VAL; a loss and something that feeds it (a source or inputs)
outside TEST-only layers -> TRAIN, or TRAIN_VAL if some layer is TEST-only (an
`Accuracy` kept to TEST beside a loss for both phases, say); anything else with
sources or losses -> TEST (an evaluation or feature-extraction net, or one whose
data and losses are all TEST-only); nothing of the kind -> UNKNOWN (a fragment).
A test net written with a data layer and a loss but no phase rules reads as a
TRAIN net: nothing in the net tells them apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

TRAIN, TEST = 0, 1  # caffe.Phase
NOT_SOURCES = frozenset({"Input", "Parameter"})


class Role(str, Enum):
    DEPLOY = "deploy"
    TRAIN = "train"
    TEST = "test"
    TRAIN_VAL = "train_val"
    UNKNOWN = "unknown"

    @property
    def trains(self) -> bool:
        """Whether a solver runs this net in the TRAIN phase."""
        return self in (Role.TRAIN, Role.TRAIN_VAL)


# What a solver runs each of its embedded nets for.
EMBEDDED_ROLES = {"train_net_param": Role.TRAIN, "test_net_param": Role.TEST}


@dataclass(frozen=True)
class NetRole:
    role: Role
    reason: str  # one line, for -v and the report


def layer_phase(layer: Any) -> int | None:
    """TRAIN or TEST if the layer's rules keep it to one phase, else None."""
    include, exclude = getattr(layer, "include", ()), getattr(layer, "exclude", ())  # none in old forks' V1 layers
    if not include and not exclude:
        return None
    included: set[int] = {rule.phase for rule in include if rule.HasField("phase")}
    if len(included) == 1:
        return included.pop()
    excluded = {rule.phase for rule in exclude if rule.HasField("phase")}
    if not included and len(excluded) == 1:
        return TEST if excluded.pop() == TRAIN else TRAIN
    return None


def type_name(layer: Any) -> str:
    """A layer's type as a string: as written in a current net, the enum value's name in a V1 net."""
    if isinstance(layer.type, str):
        return layer.type
    enum = layer.DESCRIPTOR.fields_by_name["type"].enum_type
    value = enum.values_by_number.get(layer.type) if enum is not None else None
    return value.name if value is not None else str(layer.type)


def is_source(layer: Any) -> bool:
    return _is_source(layer, type_name(layer))


def is_loss(layer: Any) -> bool:
    return _is_loss(layer, type_name(layer))


def _is_source(layer: Any, kind: str) -> bool:
    return not layer.bottom and bool(layer.top) and kind not in NOT_SOURCES


def _is_loss(layer: Any, kind: str) -> bool:
    if kind.endswith(("Loss", "_LOSS")):
        return True
    weights = getattr(layer, "loss_weight", ())  # none in old forks' V1 layers
    return bool(weights) and any(weight != 0 for weight in weights)


def classify(net: Any, embedded_as: str | None = None) -> NetRole:
    """The role of a net, current (`layer`) or V1 (`layers`, in a fork that reads V1 only).

    `embedded_as`: the solver field the net is held in, for a net inside a solver.
    """
    if embedded_as in EMBEDDED_ROLES:
        role = EMBEDDED_ROLES[embedded_as]
        return NetRole(role, f"{role.value} net: the solver's {embedded_as}")
    fields = net.DESCRIPTOR.fields_by_name
    # Iterated, not listed: a Python object for each layer of a big net at once costs 500 bytes a layer.
    layers = net.layer if "layer" in fields else ()
    if not layers and "layers" in fields:
        layers = net.layers
    if "state" in fields and net.HasField("state") and net.state.HasField("phase"):
        said = "TRAIN" if net.state.phase == TRAIN else "TEST"
        role = Role.TRAIN if net.state.phase == TRAIN else Role.TEST
        return NetRole(role, f"{role.value} net: its state says phase {said}")
    sources: list[Any] = []
    losses: list[Any] = []
    phases: set[int | None] = set()
    inputs = bool(getattr(net, "input", ()))
    fed = trained = False  # data (or inputs), and a loss, outside TEST-only layers
    for layer in layers:
        phase = layer_phase(layer)
        phases.add(phase)
        kind = type_name(layer)
        inputs = inputs or kind == "Input"
        if _is_source(layer, kind):
            sources.append(layer)
            fed = fed or phase != TEST
        if _is_loss(layer, kind):
            losses.append(layer)
            trained = trained or phase != TEST
    if not sources and not losses:
        if inputs:
            return NetRole(Role.DEPLOY, "deploy net: inputs, no data layer and no loss layer")
        return NetRole(Role.UNKNOWN, "neither inputs, data layers nor loss layers")
    what = ", ".join(
        filter(None, (_listed("data layer", "data layers", _names(sources)), _listed("loss", "losses", _names(losses))))
    )
    if TRAIN in phases and TEST in phases:
        return NetRole(Role.TRAIN_VAL, f"train_val net: TRAIN-only and TEST-only layers ({what})")
    if (fed or inputs) and trained:
        if TEST in phases:
            return NetRole(Role.TRAIN_VAL, f"train_val net: {what} in both phases, and TEST-only layers")
        return NetRole(Role.TRAIN, f"train net: {what}")
    if losses:
        return NetRole(Role.TEST, f"test net: {what}, the data or the losses TEST-only")
    return NetRole(Role.TEST, f"test net: {what}, no loss")


def _names(layers: Iterable[Any]) -> list[str]:
    return [layer.name or type_name(layer) for layer in layers]


def _listed(one: str, many: str, names: list[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(repr(name) for name in names[:2]) + (", ..." if len(names) > 2 else "")
    return f"{one if len(names) == 1 else many} {shown}"
