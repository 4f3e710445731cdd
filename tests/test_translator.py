"""``Translator`` (what ``gateway translate`` runs per file) is ``translate`` with the names resolved once: the same
bytes for every sample to every destination, the same refusals in the same order (size before route), and envelopes
whose ids are version-4 UUIDs as ``uuid.uuid4`` writes them."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Envelope
from gateway.cli import _stem
from gateway.errors import ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.model.timefmt import BEIJING
from gateway.translate import Translator, envelope_parties, fresh_envelope, make_envelope, translate

ENV = Envelope("3f2504e0-4f89-11d3-9a0c-0305e82c3301", datetime(2025, 6, 1, 9, tzinfo=BEIJING), "req-1", "A", "B")


def _outcome(run: Any, *args: Any) -> Any:
    try:
        return run(*args)
    except Refusal as exc:
        return (exc.code, exc.where, exc.detail)


def test_every_sample_to_every_destination_as_translate_does(registry: Any, samples_dir: Path) -> None:
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    destinations = ["anhui", "g60", "zlb", "hunan", "shanghai", *sorted(registry.platforms)]
    compared = 0
    for row in rows:
        body = (samples_dir / row["file"]).read_bytes()
        for destination in destinations:
            translator = Translator(registry, row["dialect"], destination, row["type"])
            expected = _outcome(translate, registry, row["dialect"], destination, row["type"], body, ENV)
            assert _outcome(translator, body, ENV) == expected
            compared += isinstance(expected, bytes)
    assert compared > 150


def test_the_size_is_refused_before_the_route(registry: Any) -> None:
    translator = Translator(registry, "hunan", "anhui", "licence")  # hunan carries no licences
    with pytest.raises(Refusal) as small:
        translator(b"{}", ENV)
    assert small.value.code is C.UNSUPPORTED_TYPE
    with pytest.raises(Refusal) as large:
        translator(b" " * (registry.adapter("hunan").body_limit + 1), ENV)
    assert large.value.code is C.BODY_TOO_LARGE


def test_an_unknown_name_is_a_configuration_error_at_once(registry: Any) -> None:
    with pytest.raises(ConfigError, match="atlantis"):
        Translator(registry, "anhui", "atlantis", "case")


def test_fresh_envelopes_are_make_envelopes(registry: Any) -> None:
    _, platform = registry.resolve("g60")
    before = datetime.now(UTC)
    made = make_envelope(platform, datetime.now(UTC))
    fresh = fresh_envelope(*envelope_parties(platform))
    assert (fresh.sender, fresh.receiver) == (made.sender, made.receiver)
    assert fresh.sent_at.tzinfo is made.sent_at.tzinfo is BEIJING
    assert before <= fresh.sent_at <= datetime.now(UTC)
    ids = {made.message_id, made.request_id, fresh.message_id, fresh.request_id}
    assert len(ids) == 4
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


@pytest.mark.parametrize(
    "name",
    ["a.json", "dir/a.json", "/x/y/z.tar.gz", ".hidden", ".hidden.json", "a.", "a..", "..", ".", "/", "dir/",
     "dir/.", "a/..", "a//b.json", "./c.xml", "x.y.", "...", "..a", "a b.json", "中文.json", "-"],
)  # fmt: skip
def test_the_output_name_is_the_inputs_path_stem(name: str) -> None:
    assert _stem(name) == Path(name).stem
