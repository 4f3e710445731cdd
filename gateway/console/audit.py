"""Every operator action (login, logout, retry, discard, verify) goes into the tamper-evident message log.

Why the message log and not a log line: the log's hash chain and seals make the record of who retried or discarded
what as hard to alter as the messages themselves (issue 16: "with who, what and when"). An action is one entry:
platform ``console``, operation ``console.<action>``, record type ``operator-action``; its message (encrypted at
rest like every message) is the JSON ``{"who", "role", "action", "target", "outcome", "at"}``. A retry or discard
of a case's message carries the case number, so searching the case shows the operator's action beside the
exchanges. Without a configured message log the action is logged as a line instead (the console says so).
"""

from __future__ import annotations

import json
import logging
import uuid

from gateway.msglog.api import MessageLog, NewEntry

__all__ = ["record_action"]

log = logging.getLogger("gateway.console")


async def record_action(
    msglog: MessageLog | None,
    *,
    at: float,
    who: str,
    role: str,
    action: str,
    target: str,
    outcome: str,
    case_no: str | None = None,
) -> None:
    """Append one operator action to ``msglog`` (or log it when there is none)."""
    if msglog is None:
        log.info("console action (no message log configured)", extra={"action": action, "outcome": outcome})
        return
    body = {"who": who, "role": role, "action": action, "target": target, "outcome": outcome, "at": at}
    message_id = str(uuid.uuid4())
    await msglog.append(
        NewEntry(
            at=at,
            direction="in",
            platform="console",
            operation=f"console.{action}",
            record_type="operator-action",
            message_id=message_id,
            idem_key=f"console:{message_id}",
            message=json.dumps(body, ensure_ascii=False, sort_keys=True).encode(),
            case_no=case_no,
        )
    )
