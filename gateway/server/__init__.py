"""The gateway's aiohttp application: ``create_app`` builds everything; no module-level state."""

from .app import create_app

__all__ = ["create_app"]
