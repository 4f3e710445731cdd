"""A sixth dialect added from outside the tree (issue 13, Done-when 1): one package, its mapping tables, and one
registration line in the configuration; no file of the gateway changes.

The package is ``sixth_dialect/toy`` copied into a temporary folder, with anhui's field tables copied beside it as
its own: anhui's codec under its own name, its own link table and its own signature scheme (HMAC-SM3 over the body,
``x-toy-sign``). The gateway (in-process app on loopback, real simulators of every platform, the toy platform's
simulator among them) takes a case from hefei (anhui) to the toy platform, and one from the toy platform to g60;
both sides verify every signature, and a request the toy signature does not cover is refused.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from pipeline_stack import StackFactory, sample, wait_for

from adapters.base import Envelope
from adapters.wire import HttpRequest
from gateway.config import DEFAULT_CONFIG
from gateway.config_schema import ConfigProblems, check_document
from gateway.dialects import dialect
from signing.sm import hmac_sm3_hex, verify_hmac_sm3_hex

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

#: the only configuration the toy dialect needs: its package named once, and a platform speaking it (341800 宣城,
#: whose cases go to g60 by default, is served by the toy platform here)
TOY_CONFIG = {
    "gateway": {"dialect_packages": ["toy"]},
    "platforms": {
        "toytown": {
            "name": "玩具政务服务网",
            "dialect": "toy",
            "region": "341800",
            "regions": ["341800"],
            "item_column": "hefei",
        }
    },
}


@pytest.fixture
def toy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy package in a temporary folder on ``sys.path``, with its own copy of anhui's mapping tables."""
    folder = tmp_path / "plugins"
    shutil.copytree(HERE / "sixth_dialect" / "toy", folder / "toy", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "mappings" / "anhui", folder / "toy" / "mappings")
    monkeypatch.syspath_prepend(str(folder))
    return folder / "toy"


async def test_a_sixth_dialect_from_a_temporary_folder_carries_cases_both_ways(
    toy_package: Path, make_stack: StackFactory, tmp_path: Path, samples_dir: Path
) -> None:
    stack = await make_stack(f"sqlite:///{tmp_path / 'gw.db'}", extra=TOY_CONFIG)
    toy = dialect("toy")
    assert toy.mappings == toy_package / "mappings"
    assert stack.config.registry.adapter("toy").name == "toy"

    # anhui → toy: hefei files a case handled in 宣城; the gateway signs it with the toy scheme, the toy
    # simulator verifies it and keeps it
    case = sample(stack.config, samples_dir, "anhui", "case", "SC002.json")  # 宣城 341800
    await stack.partner_client("hefei").submit("case", case, "m-toy-1")
    toytown = stack.book("toytown")
    await wait_for(lambda: len(toytown.snapshot("case")) == 1, what="toytown got the case")
    assert toytown.snapshot("case")[0]["record"]["case_no"] == case.case_no

    # toy → g60: the toy platform files a case handled in 苏州 on the gateway's toy route (its signature checked
    # there), and the gateway delivers it to g60 in g60's dialect and signature scheme
    other = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500 → g60
    other = replace(other, case_no=other.case_no[:-4] + "7777")
    accepted = await stack.partner_client("toytown").submit("case", other, "m-toy-2")
    assert accepted.receipt_no
    g60 = stack.book("g60")
    await wait_for(
        lambda: any(c["record"]["case_no"] == other.case_no for c in g60.snapshot("case")),
        what="g60 got the toy platform's case",
    )

    # the toy signature is checked at the gateway's edge: a body changed after signing is refused, signed
    link = stack.partner_client("toytown").ctx.link
    body = stack.config.registry.adapter("toy").encode("case", other, Envelope("m", datetime.now(), "m"))
    headers = {"x-toy-app": link.app, "x-toy-sign": hmac_sm3_hex(link.secret, body + b" ")}
    answer = await stack.transport.send(
        HttpRequest("POST", f"{stack.gateway_url}/partners/toytown/toy/case", headers, body)
    )
    assert answer.status == 400
    assert json.loads(answer.body) == {"code": "SIGNATURE_INVALID", "field": "x-toy-sign"}
    verify_hmac_sm3_hex(link.secret, answer.body, answer.header("x-toy-sign") or "")  # the refusal is signed too


def test_a_dialect_package_that_cannot_be_imported_is_refused_by_check_config(tmp_path: Path) -> None:
    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["gateway"] = {"dialect_packages": ["no_such_dialect_package"]}
    with pytest.raises(ConfigProblems) as refused:
        check_document(data, "g.toml", tmp_path)
    assert any(
        p.key == "gateway.dialect_packages" and "no_such_dialect_package" in p.problem for p in refused.value.problems
    )
