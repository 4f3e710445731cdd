"""``gateway translate`` is parsed by the translate command's parser alone (``cli._parse``): it must give what the
whole parser gives, namespace for namespace, and the same usage, help and errors (which the whole parser then
gives); anything else goes to the whole parser."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest

from gateway.cli import _only_translate, _parse, _parser

TRANSLATE = ["--from", "anhui", "--to", "g60", "--type", "case"]


def _outcome(parse: Any, argv: list[str]) -> Any:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            return ("parsed", vars(parse(argv)))
        except SystemExit as exc:
            return ("exit", exc.code, out.getvalue(), err.getvalue())


def _whole(argv: list[str]) -> Any:
    return _parser().parse_args(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["translate", *TRANSLATE, "a.json"],
        ["translate", *TRANSLATE, "a.json", "b.json", "--out-dir", "out"],
        ["--config", "x.toml", "translate", *TRANSLATE, "-"],
        ["--config=x.toml", "translate", "--config", "y.toml", *TRANSLATE, "a.json"],
        ["--config", "translate", "translate", *TRANSLATE, "a.json"],  # a configuration file called translate
        ["translate", *TRANSLATE],  # no input
        ["translate", "--from", "anhui", "a.json"],  # --to and --type missing
        ["translate", *TRANSLATE[:4], "--type", "parcel", "a.json"],  # not a record type
        ["translate", *TRANSLATE, "a.json", "--unknown"],
        ["translate", "--help"],
        ["translate", "-h", *TRANSLATE],
    ],
)
def test_the_translate_parser_parses_as_the_whole_one(argv: list[str]) -> None:
    assert _only_translate(argv)
    assert _outcome(_parse, argv) == _outcome(_whole, argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["--config"],
        ["--config", "translate"],
        ["--conf", "x.toml", "translate", *TRANSLATE, "a.json"],  # abbreviations are argparse's to read
        ["-h", "translate"],
        ["serve"],
        ["translat", *TRANSLATE, "a.json"],
        ["outbox", "list"],
    ],
)
def test_anything_else_goes_to_the_whole_parser(argv: list[str]) -> None:
    assert not _only_translate(argv)
    assert _outcome(_parse, argv) == _outcome(_whole, argv)
