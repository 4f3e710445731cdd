"""The intake floor: one aiohttp handler doing only the mandatory work of a signed anhui submission, for real.

Why: issue 15 measures intake as X / Y, the gateway's CPU per request against its mandatory primitives each timed
alone (Y). How much of the gap is the gateway's own work, and how much is what any server built this way pays just to
run those primitives inside a request (the event loop around them, a writer thread's hand-off, the GIL passed back and
forth)? This server answers that: its handler verifies the request's ES256 JWS, decodes the JSON body, seals it with
SM4-GCM, writes one row through the gateway's own SQLite writer thread (``gateway.store._sqlite_worker``: WAL,
synchronous=FULL, group commit) and signs the answer with ES256, and nothing else (no decoding into the canonical
model, no validation, no replay or idempotency check, no routing, no outbox, no evidence). ``bench/pipeline.py`` runs
it in the same run as the gateway, with the same closed loop on the same signed requests, and prints its CPU per
request over the same Y: the lowest ratio this process model allows.

Run by ``bench/pipeline.py``; by hand: ``python bench/intake_floor.py PORT CONFIG_TOML DB_PATH``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import uuid
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.anhui import scheme as anhui_wire  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.errors import Refusal  # noqa: E402
from gateway.links import dev_link_settings  # noqa: E402
from gateway.server.loops import run_loop  # noqa: E402
from gateway.store._sqlite_worker import SQLiteWorker, wal_connector  # noqa: E402
from gateway.wire.registry import load_platform_link  # noqa: E402
from signing.sm import Sm4Gcm  # noqa: E402

SENDER = "hefei"  # bench/pipeline.py signs every request as this anhui partner


def _create(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, sealed BLOB NOT NULL)")


async def serve(port: int, config_file: Path, db: Path) -> None:
    config = load_config(config_file)
    gw_sides, _ = dev_link_settings(config.dev_credentials, config.registry)  # type: ignore[arg-type]
    side = gw_sides[SENDER]
    link = load_platform_link(config.registry.platforms[SENDER], side.settings, side.base)
    cipher = Sm4Gcm(bytes(16))  # a bench key: the cost of SM4-GCM does not depend on it
    writer = SQLiteWorker(wal_connector(str(db), 5.0), _create)
    await writer.start()

    async def submit(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            anhui_wire.verify_body(request.headers.get(anhui_wire.H_JWS), body, link.peer_jws_keys)
        except Refusal:  # the bench counts a non-200 answer as an error
            return web.Response(status=401)
        record = json.loads(body)
        sealed = cipher.encrypt(body)
        row_id = uuid.uuid4().hex
        await writer.run("row", lambda conn: conn.execute("INSERT INTO rows VALUES (?, ?)", (row_id, sealed)))
        answer = anhui_wire.render_answer({"receiptNo": "TB" + row_id, "projid": record.get("projid")})
        signature = anhui_wire.sign_body(answer, link.jws_key)
        return web.Response(body=answer, content_type="application/json", headers={anhui_wire.H_JWS: signature})

    app = web.Application()
    app.router.add_post("/{tail:.*}", submit)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()  # until the bench stops this process
    finally:
        await runner.cleanup()
        await writer.stop()


if __name__ == "__main__":
    run_loop(serve(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])), "auto")
