"""The operators' browser console (issue 16): overview, outbox and dead letters, message log, licence exchanges,
catalogue sync, configuration and accounts.

Server-rendered pages (aiohttp + Jinja2 with autoescaping, no script at all), Simplified Chinese by default with an
English switch, on a listener of its own (``[console] port``). Modules:

- ``auth``: roles, argon2 password hashes, sessions kept in the store, the login throttle (pure, clock injected);
- ``security``: the refusal type and the middlewares (refusals, headers/CSP, session, CSRF), in their order;
- the pages: ``login``, ``views`` (overview, configuration), ``outbox`` and ``bulk``, ``msglog_view``,
  ``licences_view``, ``sync_view``, ``accounts``;
- what they compute: ``overview``, ``history`` (sampled counters), ``chart`` (SVG), ``filters``, ``payload`` (the
  last signed request, masked), ``evidence_view``, ``redact``;
- background jobs of the serving process, one book (``jobs``): ``verify_job`` (verify chain), ``sync_run`` (run
  incremental now);
- ``audit``: every operator action into the tamper-evident message log;
- ``users``: accounts for ``gateway console add-user`` and ``gateway demo``'s one-time admin;
- ``app``: the application and its listener.
"""

from .app import console_listener, create_console
from .keys import CONSOLE_URL, ConsoleAddress
from .users import add_user, one_time_admin

__all__ = ["CONSOLE_URL", "ConsoleAddress", "add_user", "console_listener", "create_console", "one_time_admin"]
