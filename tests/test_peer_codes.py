"""Issue 13: a refusal code from a peer is parsed once (``gateway.errors.peer_code``); one the gateway does not know
maps to the documented fallback instead of raising ``ValueError`` (which became a signed 500)."""

from __future__ import annotations

import pytest

from gateway.errors import UNKNOWN_PEER_CODE_FALLBACK, Refusal, RejectionCode, peer_code


@pytest.mark.parametrize("code", list(RejectionCode))
def test_every_readme_code_is_itself(code: RejectionCode) -> None:
    assert peer_code(code.value) == (code, "")


def test_not_found_is_the_documented_fallback_and_named_in_the_detail() -> None:
    code, detail = peer_code("NOT_FOUND")
    assert code is UNKNOWN_PEER_CODE_FALLBACK is RejectionCode.RULE_VIOLATION
    assert "NOT_FOUND" in detail
    assert str(Refusal(code, None, detail)).startswith("RULE_VIOLATION")


@pytest.mark.parametrize("raw", [None, 404, ["MALFORMED"], "", "not_found", "11010519491231002X 张三", "A" * 41])
def test_anything_else_is_the_fallback_and_never_quoted(raw: object) -> None:
    """A value that does not look like a code may be anything a peer echoed (an ID number, a name): not logged."""
    code, detail = peer_code(raw)
    assert code is UNKNOWN_PEER_CODE_FALLBACK
    assert detail and (not isinstance(raw, str) or not raw or raw not in detail)
