"""JSON log lines: valid JSON with the request context, and no personal data anywhere in them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from gateway.observability.context import bind_request
from gateway.observability.logging import JsonFormatter, configure_logging
from gateway.observability.tracing import new_traceparent

ID = "340121199904278686"
PHONE = "13996120484"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(tz=timezone(timedelta(hours=8))))
    logger = logging.getLogger("tests.observability.json")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_json_with_time_level_logger_and_request_context(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    trace = new_traceparent()
    with bind_request("req-42", trace.header()):
        logger.info("accepted", extra={"platform": "hefei", "operation": "case", "outcome": "accepted"})
    logger.warning("outside any request")
    inside, outside = _lines(stream)
    assert inside["message"] == "accepted" and inside["level"] == "INFO"
    assert inside["logger"] == "tests.observability.json"
    assert inside["request_id"] == "req-42"
    assert inside["traceparent"] == trace.header() and inside["trace_id"] == trace.trace_id
    assert (inside["platform"], inside["operation"], inside["outcome"]) == ("hefei", "case", "accepted")
    assert datetime.fromisoformat(inside["time"]).utcoffset() == timedelta(hours=8)
    assert inside["time"].endswith("+08:00")
    assert "request_id" not in outside


def test_personal_data_in_message_args_extras_and_traceback_is_masked(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.info(f"applicant {ID} called from {PHONE}")
    logger.info("applicant %s phone %d", ID, int(PHONE))
    logger.info("record %s", {"APPLYNAME": "赵娜", "PROJECTNAME": "关于赵娜的申请", "PROJID": "340100202506090001"})
    logger.info("%(holderName)s holds it", {"holderName": "钱多多"})
    logger.info(
        "extras",
        extra={
            "holderName": "钱多多",
            "detail": f"mail zhang.san@example.cn id {ID}",
            "body": {"agent": {"name": "孙悟空", "phone": PHONE}},
            "count": int(PHONE),
        },
    )
    try:
        raise ValueError(f"bad id {ID} for 钱多多")
    except ValueError:
        logger.exception("refused", extra={"holderName": "钱多多"})
    logger.info("stack", stack_info=True, extra={"note": f"tel {PHONE}"})
    text = stream.getvalue()
    for secret in (ID, PHONE, "赵娜", "钱多多", "孙悟空", "zhang.san", "99612048"):
        assert secret not in text
    lines = _lines(stream)
    assert lines[1]["message"] == "applicant 3401************86 phone 139******84"
    assert "340100202506090001" in lines[2]["message"]  # the case number stays readable
    assert lines[3]["message"] == "钱** holds it"
    assert lines[4]["body"] == {"agent": {"name": "孙**", "phone": "139******84"}}
    assert lines[4]["count"] == "139******84"
    assert "ValueError: bad id 3401************86" in lines[5]["exception"]
    assert "Traceback" in lines[5]["exception"]
    assert "stack" in lines[6]


def test_a_broken_format_string_still_formats_masked() -> None:
    record = logging.LogRecord("tests.observability.broken", logging.INFO, __file__, 1, "two %s %s", (ID,), None)
    line = json.loads(JsonFormatter().format(record))
    assert ID not in line["message"] and line["message"].startswith("two %s %s")


def test_configure_logging_replaces_only_its_own_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    first, second = io.StringIO(), io.StringIO()
    handler = configure_logging("DEBUG", first)
    handler = configure_logging(logging.INFO, second)
    try:
        logging.getLogger("tests.observability.root").info("phone %s", PHONE)
        assert first.getvalue() == ""
        assert json.loads(second.getvalue())["message"] == "phone 139******84"
        assert [h for h in root.handlers if h not in before] == [handler]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
