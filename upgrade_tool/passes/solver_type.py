"""The `solver_type` enum in solvers, retired by the solver registry (Caffe, early 2016).

Solvers once chose their method with `solver_type: ADAM`; since solvers are
registered by name, it is the string field `type: "Adam"`. Caffe's solver
loader renames the one into the other, and aborts when a solver gives both; so
does bn-upgrade, with a one-line error at the `solver_type` field.

Findings:

| code  | meaning                                                                         |
|-------|---------------------------------------------------------------------------------|
| ST001 | a `solver_type` value (from a fork's schema) that has no known type name: left  |
"""

from __future__ import annotations

from typing import cast

from upgrade_tool.caffe_pb2 import SolverParameter
from upgrade_tool.codes import Code, Fix, Level
from upgrade_tool.document import Document, Kind
from upgrade_tool.edits import replace
from upgrade_tool.errors import InputError
from upgrade_tool.passes import Finding, PassResult, UpgradePass
from upgrade_tool.settings import Settings

# The SolverType enum names and the registered solver names they became.
TYPE_NAMES = {
    "SGD": "SGD",
    "NESTEROV": "Nesterov",
    "ADAGRAD": "AdaGrad",
    "RMSPROP": "RMSProp",
    "ADADELTA": "AdaDelta",
    "ADAM": "Adam",
}
WHERE = (("solver_type", 0),)


def upgrade(doc: Document, settings: Settings) -> PassResult:
    solver = cast(SolverParameter, doc.message)  # BVLC's class, or a fork's (--proto) with the same fields
    fields = solver.DESCRIPTOR.fields_by_name
    if not {"solver_type", "type"} <= set(fields) or not solver.HasField("solver_type"):
        return PassResult(solver)
    node = doc.node(WHERE)
    if solver.HasField("type"):
        message = "both solver_type and type are given; keep one of them (Caffe aborts on this)"
        raise InputError(message, node.start if node is not None else 0, "E005")
    enum = fields["solver_type"].enum_type
    assert enum is not None
    enum_name = enum.values_by_number[solver.solver_type].name
    type_name = TYPE_NAMES.get(enum_name)
    if type_name is None:
        what = f"solver_type {enum_name} has no known solver type name; left as it is"
        return PassResult(solver, findings=(Finding("ST001", what, WHERE, needs_human=True),))
    result = type(solver)()
    result.CopyFrom(solver)
    result.ClearField("solver_type")
    result.type = type_name
    new_text = f'type: "{type_name}"'
    edits = () if node is None else (replace(doc.text, node.start, node.end, new_text),)
    return PassResult(result, True, edits, f"solver_type {enum_name} became type {type_name!r}", {"solvers": 1})


PASS = UpgradePass(
    name="solver type",
    legacy_form="solver_type enum in solvers (before the solver registry, early 2016)",
    upgrade=upgrade,
    code=Code(
        "UP006",
        "solver-type-enum",
        "a solver chooses its method with the `solver_type` enum",
        'Solvers are registered by name since early 2016: `solver_type: ADAM` is `type: "Adam"`. Caffe '
        "still reads the enum and renames it; bn-upgrade writes the name.",
        "base_lr: 0.01\nsolver_type: ADAM\n",
        'base_lr: 0.01\ntype: "Adam"\n',
        fix=Fix.UPGRADE,
    ),
    findings=(
        Code(
            "ST001",
            "solver-type-unmapped",
            "a `solver_type` value with no known type name: left as it is",
            "A fork's schema can add `solver_type` values BVLC never registered by name; bn-upgrade does not "
            'invent a name for them. Write `type: "..."` by hand with the name the fork registers.',
            level=Level.ERROR,
            needs_human=True,
        ),
    ),
    kind=Kind.SOLVER,
)
