"""Structured JSON logs, one object per line, that never carry personal data in the clear (PIPL).

Built on the standard :mod:`logging` module so every library's records go through the same door. The formatter
runs *every* string it writes through :func:`~.masking.mask_text`: the message after ``%`` formatting, each
argument before it (dicts and lists through :func:`~.masking.mask_mapping`, so field names count), every
``extra=`` value (an extra named like a personal field, ``extra={"holderName": ...}``, is masked whole), the
exception text and traceback and the stack. Masking at the formatter rather than at each call site means a
forgotten call site cannot leak.

A line looks like::

    {"time":"2025-06-09T10:34:19.123+08:00","level":"WARNING","logger":"gateway.server","message":"refused",
     "request_id":"5f0c…","trace_id":"4bf9…","traceparent":"00-4bf9…-00f0…-01","platform":"hefei",
     "operation":"case","outcome":"ID_CHECKSUM"}

``request_id``, ``traceparent`` and ``trace_id`` come from the request context (:mod:`.context`) automatically.

The ``[logging]`` section chooses the level (``level = "INFO"``; ``gateway serve --log-level`` overrides it) and the
format: ``format = "json"`` (the default, for log shippers) or ``"plain"`` (one readable line per record, masked
the same way: :class:`PlainFormatter`). Either way the stream carries nothing but the formatter's lines.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, TextIO

from gateway.errors import ConfigError

from .context import current_request
from .masking import mask_by_kind, mask_mapping, mask_text, personal_values
from .personal_fields import CATALOGUE, FieldCatalogue, FieldKind

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "LoggingSettings",
    "PlainFormatter",
    "configure_logging",
    "logging_settings",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "plain")

_RESERVED = frozenset(vars(logging.LogRecord("x", logging.INFO, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_MARK = "_tongban_json_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, every string masked. ``tz`` is the offset written (default: local time).

    Personal values named by an extra or a dict argument (``extra={"holderName": ...}``) are also masked wherever
    else they occur in the same record: in the message, another extra, the exception text.
    """

    def __init__(self, *, tz: tzinfo | None = None, catalogue: FieldCatalogue | None = None) -> None:
        super().__init__()
        self._tz = tz
        self._catalogue = catalogue or CATALOGUE

    def format(self, record: logging.LogRecord) -> str:
        out, known = self.fields(record)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"), default=lambda o: self._text(str(o), known))

    def fields(self, record: logging.LogRecord) -> tuple[dict[str, Any], dict[str, FieldKind]]:
        """The record as masked fields (what :meth:`format` writes), and the personal values it named."""
        extras = {k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")}
        known = self._known(record, extras)
        out: dict[str, Any] = {
            "time": self._time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": self._message(record, known),
        }
        ctx = current_request()
        if ctx is not None:
            out["request_id"] = self._text(ctx.request_id, known)
            if ctx.traceparent:
                out["trace_id"] = ctx.trace_id
                out["traceparent"] = ctx.traceparent
        for key, value in extras.items():
            kind = self._catalogue.kind(key)
            out[key] = mask_by_kind(str(value), kind) if kind and value is not None else self._value(value, known)
        if record.exc_info:
            out["exception"] = self._text(self.formatException(record.exc_info), known)
        elif record.exc_text:
            out["exception"] = self._text(record.exc_text, known)
        if record.stack_info:
            out["stack"] = self._text(self.formatStack(record.stack_info), known)
        return out, known

    def _known(self, record: logging.LogRecord, extras: Mapping[str, Any]) -> dict[str, FieldKind]:
        sources: list[Any] = [extras]
        if isinstance(record.args, Mapping):
            sources.append(record.args)
        elif record.args:
            sources.extend(a for a in record.args if isinstance(a, Mapping | list | tuple))
        return personal_values(sources, catalogue=self._catalogue)

    def _time(self, record: logging.LogRecord) -> str:
        moment = (
            datetime.fromtimestamp(record.created, self._tz)
            if self._tz
            else (datetime.fromtimestamp(record.created).astimezone())
        )
        return moment.isoformat(timespec="milliseconds")

    def _text(self, text: str, known: Mapping[str, FieldKind]) -> str:
        return mask_text(text, known=known, catalogue=self._catalogue)

    def _message(self, record: logging.LogRecord, known: Mapping[str, FieldKind]) -> str:
        msg = record.msg
        if isinstance(msg, Mapping | list | tuple):
            msg = json.dumps(self._value(msg, known), ensure_ascii=False, default=str)
        text = str(msg)
        args = record.args
        if args:
            masked_args: Any
            if isinstance(args, Mapping):
                masked_args = mask_mapping(dict(args), known=known, catalogue=self._catalogue)
            else:
                masked_args = tuple(self._arg(a, known) for a in args)
            try:
                text = text % masked_args
            except (TypeError, ValueError, KeyError):
                text = f"{text} {masked_args!r}"  # a broken format string must not lose the line
        return self._text(text, known)

    def _arg(self, value: Any, known: Mapping[str, FieldKind]) -> Any:
        if isinstance(value, str):
            return self._text(value, known)
        if isinstance(value, Mapping | list | tuple):
            return mask_mapping(value, known=known, catalogue=self._catalogue)
        return value  # numbers keep their %d / %.2f formatting; the formatted message is masked as a whole

    def _value(self, value: Any, known: Mapping[str, FieldKind]) -> Any:
        """A JSON-ready copy of ``value`` with personal data masked."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            masked = self._text(str(value), known)
            return value if masked == str(value) else masked
        if isinstance(value, str):
            return self._text(value, known)
        if isinstance(value, Mapping | list | tuple):
            return self._jsonable(mask_mapping(value, known=known, catalogue=self._catalogue), known)
        return self._text(str(value), known)

    def _jsonable(self, value: Any, known: Mapping[str, FieldKind]) -> Any:
        """String keys; strings are already masked (and identifier fields kept) by ``mask_mapping``."""
        if isinstance(value, Mapping):
            return {str(k): self._jsonable(v, known) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._jsonable(v, known) for v in value]
        if isinstance(value, str):
            return value
        return self._value(value, known)


class PlainFormatter(JsonFormatter):
    """``time LEVEL logger: message key=value ...``: the JSON formatter's masked fields, for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields, known = self.fields(record)
        head = f"{fields.pop('time')} {fields.pop('level')} {fields.pop('logger')}: {fields.pop('message')}"
        tail = fields.pop("exception", None) or fields.pop("stack", None)
        fields.pop("traceparent", None)
        extras = " ".join(
            f"{k}={json.dumps(v, ensure_ascii=False, default=lambda o: self._text(str(o), known))}"
            for k, v in fields.items()
            if v is not None
        )
        return head + (f" {extras}" if extras else "") + (f"\n{tail}" if tail else "")


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    """``[logging]``: ``level`` (one of :data:`LOG_LEVELS`) and ``format`` (``json`` or ``plain``)."""

    level: str = "INFO"
    format: str = "json"


def logging_settings(raw: Mapping[str, Any], source: str, *, level: str | None = None) -> LoggingSettings:
    """The ``[logging]`` section of the configuration; ``level`` (the command line's) overrides its level."""
    table = raw.get("logging", {})
    if not isinstance(table, Mapping):
        raise ConfigError(source, "logging", "must be a table", 'write [logging] with level = "INFO"')
    chosen = level if level is not None else table.get("level", "INFO")
    key = "--log-level" if level is not None else "logging.level"
    if not isinstance(chosen, str) or chosen.upper() not in LOG_LEVELS:
        raise ConfigError(source, key, f"{chosen!r} is not a log level", f"use one of {', '.join(LOG_LEVELS)}")
    fmt = table.get("format", "json")
    if fmt not in LOG_FORMATS:
        raise ConfigError(source, "logging.format", f"{fmt!r} is not a log format", 'use "json" or "plain"')
    return LoggingSettings(chosen.upper(), fmt)


def configure_logging(
    level: int | str = logging.INFO, stream: TextIO | None = None, fmt: str = "json"
) -> logging.Handler:
    """Send the root logger's records as JSON lines (``fmt="plain"``: plain lines) to ``stream`` (default stderr)
    at ``level``.

    Called once by the process entry point. Calling it again replaces the handler it installed before (and
    nothing else), so tests can point it at their own stream; the handler is returned for them to remove.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(PlainFormatter() if fmt == "plain" else JsonFormatter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
