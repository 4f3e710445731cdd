"""Observability building blocks: metrics, masked JSON logs, request and trace context.

Modules (imported directly; this package imports nothing, so a pure layer can use ``metrics`` or ``masking``
without pulling in aiohttp through ``tracing``):

* :mod:`.metrics`: ``GatewayMetrics(registry, platforms=...)``, every ``tongban_*`` metric, bounded labels;
* :mod:`.masking`: ``mask_text``, ``mask_mapping``, ``masked_bytes_preview``: personal data never reaches a log;
* :mod:`.shapes`: what an ID number, phone or e-mail looks like, and what is left of each once masked;
* :mod:`.personal_fields`: which wire field names are personal, read from ``mappings/*/*.toml``;
* :mod:`.logging`: ``JsonFormatter``, ``configure_logging``: one masked JSON object per line;
* :mod:`.context`: the request id and trace in ``contextvars`` (``bind_request``, ``current_request``);
* :mod:`.tracing`: W3C ``traceparent`` and ``trace_middleware()`` for aiohttp;
* :mod:`.labels`: ``LabelGuard``, label values from allow-lists or ``other``.

docs/operations.md describes the metrics, the alerts (ops/prometheus/alerts.yml) and the log format.
"""

__all__: list[str] = []
