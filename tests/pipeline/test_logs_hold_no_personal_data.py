"""PIPL: a full exchange of every published sample leaves no ID number, phone or name in the log output.

Every case, status event and evaluation sample is submitted through the gateway by a partner of its dialect (g60
records are sent by another partner: the gateway's g60 route wants mutual TLS), delivered, refused or routed, with
the root logger writing the gateway's masked JSON lines at DEBUG. Then the whole output is scanned for every
personal value of every sample, and for the shapes of ID numbers and mobile numbers.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

from pipeline_stack import Stack

from gateway.delivery import DeliveryError
from gateway.errors import Refusal
from gateway.model.personal import PERSONAL_FIELDS
from gateway.model.records import to_ref
from gateway.observability.logging import configure_logging

SENDER = {"anhui": "hefei", "zlb": "ningbo", "hunan": "changsha", "shanghai": "songjiang", "g60": "ningbo"}
# shapes standing alone (not inside a hex id such as an outbox message id, where digit runs occur by chance)
ID_SHAPE = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:[0-2][0-9]|3[01])[0-9]{3}[0-9X](?![0-9A-Za-z])"
)
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")


def _personal(values: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            found |= _personal(value, path + ".")
        elif path in PERSONAL_FIELDS and isinstance(value, str):
            found.add(value)
    return found


async def test_no_personal_value_reaches_the_log(stack: Stack, samples_dir: Path) -> None:
    stream = io.StringIO()
    handler = configure_logging(logging.DEBUG, stream)
    personal: set[str] = set()
    outcomes: list[str] = []
    try:
        with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r["type"] in ("case", "status", "evaluation")]
        for row in rows:
            adapter = stack.config.registry.adapter(row["dialect"])
            record = adapter.decode(row["type"], (samples_dir / row["file"]).read_bytes())
            personal |= _personal(to_ref(record))
            sender = SENDER[row["dialect"]]
            if stack.config.registry.platforms[sender].dialect != row["dialect"]:
                sender = "ningbo"
            try:
                await stack.partner_client(sender).submit(row["type"], record, f"log-{row['file']}")
                outcomes.append("accepted")
            except Refusal as exc:
                outcomes.append(exc.code.value)
            except DeliveryError as exc:
                outcomes.append(type(exc).__name__)
        await asyncio.sleep(1.0)  # deliveries (and their log lines) happen after the receipts
        await stack.worker.drain()
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(lines) >= len(rows), "the exchange should have logged a line per call at least"
    assert "accepted" in outcomes
    assert len(personal) >= 20  # the samples share people: 28 distinct names, numbers and phones
    leaked = sorted(v for v in personal if len(v) >= 2 and v in text)
    assert leaked == [], f"{len(leaked)} personal values in the log"
    assert ID_SHAPE.search(text) is None
    assert MOBILE.search(text) is None
