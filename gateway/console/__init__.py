"""The operators' browser console (issue 16): overview, outbox and dead letters, message log, sync, configuration.

Server-rendered pages (aiohttp + Jinja2 with autoescaping, no script at all), Simplified Chinese by default with an
English switch, on a listener of its own (``[console] port``). Modules:

- ``auth``: roles, argon2 password hashes, sessions, the login throttle (pure, clock injected);
- ``security``: the refusal type and the middlewares (refusals, headers/CSP, session, CSRF), in their order;
- ``login``, ``outbox``, ``views``: the pages; ``overview``, ``redact``: what they compute;
- ``audit``: every operator action into the tamper-evident message log;
- ``users``: accounts for ``gateway console add-user`` and ``gateway demo``'s one-time admin;
- ``app``: the application and its listener.
"""

from .app import console_listener, create_console
from .keys import CONSOLE_URL, ConsoleAddress
from .users import add_user, one_time_admin

__all__ = ["CONSOLE_URL", "ConsoleAddress", "add_user", "console_listener", "create_console", "one_time_admin"]
