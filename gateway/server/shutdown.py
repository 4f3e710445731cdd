"""How the shutdown grace is spent: sends and requests in flight get most of it, closing gets the rest.

``[server] shutdown_grace`` is the whole time from SIGTERM to exit. In-flight deliveries and partner requests get
``shutdown_budget(grace)``; the reserve after it (a quarter of the grace, at most 5 s) is for what must happen
after they are cancelled: handing their claims back to the outbox, sealing the message log and closing the store.
A supervisor's stop timeout (systemd ``TimeoutStopSec``, Kubernetes ``terminationGracePeriodSeconds``) must be
longer than the grace, or the process is SIGKILLed with claims still held (they then come back after the lease).
"""

from __future__ import annotations

__all__ = ["MAX_RESERVE", "shutdown_budget", "shutdown_reserve"]

MAX_RESERVE = 5.0


def shutdown_reserve(grace: float) -> float:
    """Seconds kept back from ``grace`` for releasing claims, sealing and closing."""
    return min(MAX_RESERVE, grace / 4)


def shutdown_budget(grace: float) -> float:
    """Seconds in-flight sends and requests may still run after SIGTERM."""
    return grace - shutdown_reserve(grace)
