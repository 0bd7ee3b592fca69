from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from upgrade_tool.reader import Field, Scalar

_Table = dict[str, tuple[int, bool, dict[str, int] | None, frozenset[int] | None]]

def setup(field: type[Field], scalar: type[Scalar], /) -> None: ...
def parse(text: str, /) -> list[Field] | None: ...
def bind(
    tree: list[Field],
    message: Message,
    text: str,
    strict: bool,
    tables: dict[type, _Table],
    make_table: Callable[[type[Message]], _Table],
    /,
) -> list[tuple[tuple[tuple[str, int], ...], Field]] | None: ...
def walk(
    root: Any,
    tree: list[Field],
    text: str,
    facts: dict[Any, tuple[str, dict[str, tuple[Any, Any, bool]]]],
    make_facts: Callable[[Any], tuple[str, dict[str, tuple[Any, Any, bool]]]],
    hooks: tuple[Callable[[Scalar, str], str], Callable[[Any, Scalar, str], Any]],
    first_only: bool,
    /,
) -> Any: ...
