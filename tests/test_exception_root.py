"""Issue 13 item 4: one exception root, and one refusal type that says who refused.

Every exception class the project defines derives from ``GatewayError``, so "refused or failed on purpose" is one
``except`` away from "a bug"; the only exceptions are the private control-flow classes listed (with why) below.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

from gateway.delivery import DeliveryError, Undeliverable
from gateway.errors import ConfigError, GatewayError, Refusal, RejectionCode, Side
from gateway.msglog.errors import MessageLogError
from gateway.store.errors import StoreError
from signing.errors import SigningError

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "adapters", "signing", "mappings")

#: Private exceptions that carry control flow inside one function family and never leave their module: each is
#: caught where it is raised and becomes something else (a report line, a sync report's error, a captured request).
CONTROL_FLOW = {
    "gateway.msglog.export._Malformed": "becomes the export verifier's report, never raised out of the module",
    "gateway.sync.engine._Failed": "stops one sync run; run_sync turns it into the report's error",
    "bench.pipeline._Captured": "a benchmark's fake transport hands a built request back to its caller",
}

_BUILTIN_EXCEPTIONS = {
    name for name, obj in vars(builtins).items() if inspect.isclass(obj) and issubclass(obj, BaseException)
}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _project_classes() -> dict[str, type]:
    """Every class defined at module or class level in the four packages, by qualified name (imports them all)."""
    found: dict[str, type] = {}

    def collect(owner: object, prefix: str, module: str) -> None:
        for name, obj in vars(owner).items():
            if inspect.isclass(obj) and obj.__module__ == module and f"{prefix}.{name}" not in found:
                found[f"{prefix}.{name}"] = obj
                collect(obj, f"{prefix}.{name}", module)

    for root in PACKAGES:
        package = importlib.import_module(root)
        names = [root, *(info.name for info in pkgutil.walk_packages(package.__path__, f"{root}."))]
        for name in names:
            collect(importlib.import_module(name), name, name)
    return found


def test_every_exception_class_of_the_project_derives_from_gateway_error() -> None:
    classes = _project_classes()
    exceptions = {name: cls for name, cls in classes.items() if issubclass(cls, BaseException)}
    # the walk saw the tree (a walk that finds nothing would pass): the six branches the brief names are there
    for branch in (Refusal, ConfigError, DeliveryError, StoreError, MessageLogError, SigningError):
        assert f"{branch.__module__}.{branch.__qualname__}" in exceptions
    outside = sorted(name for name, cls in exceptions.items() if not issubclass(cls, GatewayError))
    assert outside == sorted(name for name in CONTROL_FLOW if not name.startswith("bench."))


def test_no_class_anywhere_derives_from_a_builtin_exception_alone() -> None:
    """The import walk cannot see classes inside functions, nor bench/: the source can. A class whose only bases are
    builtin exceptions starts a tree of its own (``GatewayError`` itself aside)."""
    offenders: list[str] = []
    files = [p for root in (*PACKAGES, "bench") for p in (ROOT / root).rglob("*.py")]
    assert len(files) > 100
    for path in files:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or not node.bases:
                continue
            bases = [_base_name(b) for b in node.bases]
            if all(base in _BUILTIN_EXCEPTIONS for base in bases):
                offenders.append(f"{module}.{node.name}")
    assert sorted(offenders) == sorted(["gateway.errors.GatewayError", *CONTROL_FLOW])


def test_private_control_flow_exceptions_are_private() -> None:
    for name in CONTROL_FLOW:
        assert name.rsplit(".", 1)[1].startswith("_"), name


def test_gateway_errors_is_a_leaf_so_signing_may_import_it() -> None:
    """signing/errors.py imports gateway.errors under an import-linter ``ignore_imports`` entry; that is only sound
    while gateway.errors imports nothing of the project and importing it runs no other gateway module."""
    package_init = ast.parse((ROOT / "gateway" / "__init__.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(package_init) if isinstance(n, ast.Import | ast.ImportFrom)]
    tree = ast.parse((ROOT / "gateway" / "errors.py").read_text(encoding="utf-8"))
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {name.split(".")[0] for name in imported} & {*PACKAGES, ""}


def test_one_refusal_type_carries_code_field_side_and_detail() -> None:
    ours = Refusal(RejectionCode.UNKNOWN_ITEM, "taskCode", "no code of the destination for this item")
    assert (ours.code, ours.where, ours.side) == (RejectionCode.UNKNOWN_ITEM, "taskCode", Side.OURS)
    assert str(ours) == "UNKNOWN_ITEM at taskCode: no code of the destination for this item"
    assert ours.to_problem()["detail"] == ours.detail
    assert ours.at("caseInfo.taskCode").side is Side.OURS


def test_a_peers_refusal_keeps_its_free_text_out_of_text_and_problem() -> None:
    peer = Refusal.from_peer("ID_CHECKSUM", "APPLY_CARDNUMBER", "证件号码 110101199003074518 校验位错误")
    assert (peer.code, peer.side) == (RejectionCode.ID_CHECKSUM, Side.PEER)
    assert "110101199003074518" in peer.detail  # kept for the dead-letter record
    for text in (str(peer), repr(peer), str(peer.to_problem())):
        assert "110101199003074518" not in text
    assert str(peer) == "refused by the destination: ID_CHECKSUM at APPLY_CARDNUMBER"
    assert peer.at("x").side is Side.PEER


def test_a_peers_unknown_code_is_the_fallback_with_a_note() -> None:
    """The NOT_FOUND regression (issue 13) at the type: an unknown code is never a ValueError."""
    peer = Refusal.from_peer("NOT_FOUND", None, "证照不存在")
    assert peer.code is RejectionCode.RULE_VIOLATION and peer.side is Side.PEER
    assert "NOT_FOUND" in peer.detail


@pytest.mark.parametrize("code", ["NOT_FOUND", ""])
def test_our_own_code_must_be_a_readme_code(code: str) -> None:
    """Codes of ours are the enum; only a peer's code goes through the documented fallback."""
    with pytest.raises(ValueError, match="RejectionCode"):
        Refusal(code)


def test_undeliverable_is_no_refusal() -> None:
    """Nobody refused a message that has no client or cannot be sent as configured: its own codes, not §10's."""
    exc = Undeliverable("UNKNOWN_DESTINATION", "no client is configured for this destination")
    assert isinstance(exc, DeliveryError) and isinstance(exc, GatewayError)
    assert not isinstance(exc, Refusal)
