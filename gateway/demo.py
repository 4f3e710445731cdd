"""``gateway demo``: the whole exchange on one machine, in one command.

Starts the simulators of every platform and a gateway on the embedded default (SQLite under ``./var/``), pushes a
short realistic stream across all platforms in their own dialects and signature schemes (cases, status events back
to the case's origin, evaluations, a licence query with the holder's consent, a refused submission, a small catalogue
sync when the sync job is installed), waits for the outbox to drain, and prints what happened and where to look
next. The servers keep running until Ctrl-C (``--once`` stops after the summary).
"""

from __future__ import annotations

import asyncio
import copy
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from gateway.config import Config, parse_config
from gateway.consent import issue_consent
from gateway.delivery import DeliveryError
from gateway.dialects import dialect
from gateway.errors import Refusal, Side
from gateway.links import dev_link_settings
from gateway.model.records import Case, Evaluation, LicenceQuery, StatusEvent
from gateway.model.timefmt import BEIJING
from gateway.ports import Listen, first_busy
from gateway.server.app import create_app
from gateway.server.keys import STORE
from gateway.server.run import start_sites
from gateway.simulate.licences import LicenceLibrary
from gateway.simulate.run import DEFAULT_PORT_BASE, RunningSimulator, start_simulators, stop_simulators
from gateway.transport import AiohttpTransport
from gateway.wire.base import PlatformClient
from gateway.wire.registry import load_platform_link, platform_client

__all__ = ["DemoOptions", "Partners", "demo_applicants", "demo_case", "run_demo", "run_token"]


def _now() -> datetime:
    return datetime.now(UTC).astimezone(BEIJING).replace(microsecond=0)


def run_token() -> str:
    """Ten characters fresh for each run: case numbers carry it, so a second run in the same folder (the same store)
    submits new cases, not repeats that the gateway answers with the first receipt and does not deliver again."""
    return uuid.uuid4().hex[:10].upper()


def demo_case(
    run: str,
    n: int,
    sender_region: str,
    handling: str,
    applicant: Any,
    item: tuple[str, str] = ("000172001000", "LICENSING"),
) -> Case:
    """A case as a partner submits it, numbered ``DEMO<sender><run><n>`` (within the reference's 6-32 characters)."""
    from gateway.model.records import Material  # noqa: PLC0415

    return Case(
        case_no=f"DEMO{sender_region}{run}{n:04d}",
        item_code=item[0],
        item_name="建筑工程施工许可证核发",
        item_type=item[1],
        handling_region=handling,
        project_name=f"演示申报 {n}",
        cross_region_mode="PROXY",
        applicant=applicant,
        dept_code="11340100MB1F6Q3A0Y",
        dept_name="办理部门",
        submitted_at=_now(),
        status="SUBMITTED",
        version=1,
        materials=(Material("申请表", 1, "申请表.pdf"),),
        promise_days=5,
    )


def demo_applicants() -> tuple[Any, Any]:
    """A person and a company (development data: a valid GB 11643 number, a valid USCC)."""
    from gateway.model.records import Applicant  # noqa: PLC0415

    person = Applicant("NATURAL", "阿卜杜拉·买买提", "RESIDENT_ID", "11010519491231002X", phone="13800000000")
    company = Applicant("LEGAL", "合肥供应链管理有限公司", "USCC", "91340100MBNYP0QW75", "林丽")
    return person, company


class Partners:
    """The partners' side of the links, with the development credentials: each submits to the gateway in its own
    dialect and signature scheme, as the platform would (the g60 hub over mutual TLS to ``server.tls_port``).
    Shared by ``gateway demo`` and ``gateway traffic``; ``results`` counts outcomes by (type, sender, outcome)."""

    def __init__(
        self, config: Config, transport: AiohttpTransport, gateway_url: str | None = None, tls_url: str | None = None
    ) -> None:
        self.config = config
        self.transport = transport
        self.results: Counter[tuple[str, str, str]] = Counter()
        self.gateway_url = gateway_url or f"http://{config.server.host}:{config.server.port}"
        self.tls_url = tls_url
        if tls_url is None and config.server.tls_port is not None:
            self.tls_url = f"https://{config.server.host}:{config.server.tls_port}"

    def partner(self, pid: str) -> PlatformClient:
        registry = self.config.registry
        platform = registry.platforms[pid]
        _, sides = dev_link_settings(self.config.dev_credentials, registry)  # type: ignore[arg-type]
        link = load_platform_link(platform, sides[pid].settings, sides[pid].base)
        base = self.gateway_url
        if pid == self.config.server.tls_platform and self.tls_url is not None:
            base = self.tls_url  # g60.md §1: mutual TLS
        return platform_client(registry, platform, link, self.transport, time.time, f"{base}/partners/{pid}")

    async def submit(self, sender: str, record_type: str, record: Any) -> str:
        """Submit and count; returns the outcome (``accepted``, ``refused CODE``, ``failed ERROR``)."""
        try:
            await self.partner(sender).submit(record_type, record, str(uuid.uuid4()))
            outcome = "accepted"
        except Refusal as exc:  # refused by the gateway (peer), or not even writable by this partner (ours)
            outcome = f"refused {exc.code.value}" if exc.side is Side.PEER else f"failed {type(exc).__name__}"
        except DeliveryError as exc:
            outcome = f"failed {type(exc).__name__}"
        self.results[(record_type, sender, outcome)] += 1
        return outcome


class _Demo(Partners):
    def __init__(self, config: Config, out: TextIO) -> None:
        super().__init__(config, AiohttpTransport())
        self.out = out
        self.run = run_token()

    async def stream(self) -> None:
        from gateway.model.records import Evaluator  # noqa: PLC0415

        person, company = demo_applicants()
        plans = [  # (sender, handling region) → the platform serving the region receives it
            ("ningbo", "340100"),
            ("changsha", "310117"),
            ("songjiang", "330200"),
            ("hefei", "430100"),
            ("ningbo", "320500"),
            ("huainan", "340100"),
        ]
        cases = []
        for n, (sender, region) in enumerate(plans, start=1):
            case = demo_case(self.run, n, sender[:2].upper(), region, person if n % 2 else company)
            cases.append((sender, case))
            await self.submit(sender, "case", case)
        await self.submit("ningbo", "case", cases[0][1])  # a repeat: the first receipt, no second delivery
        bad = replace(
            cases[1][1], case_no=f"DEMOBAD{self.run}", applicant=replace(person, id_number="110105194912310021")
        )
        await self.submit("changsha", "case", bad)  # refused: GB 11643 check character
        for _, case in [*cases[:3], cases[4]]:  # the handling platform reports back; routed to the case's origin
            serving = self.config.registry.serving_platform(case.handling_region) or ""
            event = StatusEvent(
                case.case_no,
                2,
                "ACCEPTED",
                _now(),
                case.handling_region,
                case.dept_code,
                case.dept_name,
                "材料齐全，符合法定形式",
                promise_end=_now(),
            )
            if serving in self.config.registry.platforms:
                await self.submit(serving, "status", event)
        evaluation = Evaluation(
            f"DEMOEVAL{self.run}",
            cases[0][1].case_no,
            "000131005000",
            "食品经营许可",
            "11340400MBDB168C5K",
            "淮南市市场监督管理局",
            "340400",
            Evaluator("NATURAL", "孙文博", "RESIDENT_ID", "11010519491231002X"),
            "APPROVED",
            "APP",
            "DISSATISFIED",
            ("等待时间长",),
            _now(),
            "窗口排队超过一小时。",
            False,
        )
        await self.submit("ningbo", "evaluation", evaluation)
        await self.licence()

    async def catalogue(self, app: web.Application) -> None:
        try:
            await _sync_catalogue(self, app)
        except (DeliveryError, Refusal) as exc:
            self.results[("catalogue sync", "hefei", f"failed {type(exc).__name__}")] += 1

    async def licence(self) -> None:
        folder: Path = self.config.dev_credentials  # type: ignore[assignment]
        _, sides = dev_link_settings(folder, self.config.registry)
        hefei = self.config.registry.platforms["hefei"]
        declared = dialect(hefei.dialect)
        issuer = load_platform_link(hefei, sides["hefei"].settings, sides["hefei"].base).key_material().licence_issuer
        if issuer is None or declared.dev_consent_key is None or declared.consent_issuer is None:
            return
        library = LicenceLibrary(issuer[1], issuer[0], "340100")
        identifier = library.identifiers()[0]
        licence, _ = library.get(identifier)
        token = issue_consent(
            declared.dev_consent_key(folder, "hefei"),
            sub=licence.holder_code,
            aud="ningbo",
            scope=licence.type_code,
            purpose=f"DEMO{self.run}",
            now=time.time(),
            issuer=declared.consent_issuer,
        )
        try:
            answer = await self.partner("ningbo").query_licence(LicenceQuery(identifier, "演示核验", token), "q")
            outcome = "answered, issuer signature verified" if answer.signature else "answered"
        except (DeliveryError, Refusal) as exc:
            outcome = f"refused {getattr(exc, 'code', type(exc).__name__)}"
        self.results[("licence query", "ningbo", outcome)] += 1


async def _sync_catalogue(demo: _Demo, app: web.Application) -> None:
    """A small catalogue sync: the hefei simulator's 2,000-item catalogue to yrd-map, as ``gateway sync`` runs it."""
    from gateway.sync.clients import sync_clients  # noqa: PLC0415
    from gateway.sync.engine import SyncSettings, run_sync  # noqa: PLC0415

    source, target = sync_clients(demo.config, "hefei", "yrd-map", demo.transport, time.time)
    report = await run_sync(SyncSettings("hefei", "yrd-map", full=True), source=source, target=target, store=app[STORE])
    for outcome, count in report.counts.items():
        if count:
            demo.results[("catalogue sync", "hefei", f"items {outcome}")] += count


async def _drained(app: web.Application, timeout: float) -> dict[str, Any]:
    store = app[STORE]
    deadline = time.monotonic() + timeout
    while True:
        stats = await store.outbox_stats(time.time())
        if all(s.pending == 0 and s.delivering == 0 for s in stats.values()) or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.1)


def _print_summary(demo: _Demo, sims: list[RunningSimulator], stats: dict[str, Any], out: TextIO) -> None:
    print("\n通办网关 demo: what happened\n", file=out)
    print(f"{'record':15} {'sender':10} {'outcome':45} {'count':>5}", file=out)
    for (record_type, sender, outcome), count in sorted(demo.results.items()):
        print(f"{record_type:15} {sender:10} {outcome:45} {count:5}", file=out)
    print(f"\n{'platform':10} {'received by its simulator':40}", file=out)
    for sim in sims:
        kinds = Counter(r["operation"] for r in sim.sim.book.snapshot())
        shown = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "-"
        print(f"{sim.platform:10} {shown:40}", file=out)
    dead = sum(s.dead for s in stats.values())
    pending = sum(s.pending + s.delivering for s in stats.values())
    print(f"\noutbox: {pending} pending, {dead} dead letters", file=out)


def _where_next(demo: _Demo, sims: list[RunningSimulator], out: TextIO) -> None:
    url = demo.gateway_url
    print("\nWhere to look next:", file=out)
    print(f"  curl {url}/healthz", file=out)
    print(f'  curl -H "Authorization: Bearer $(cat {demo.config.admin_token_file})" {url}/admin/outbox', file=out)
    print("  .venv/bin/gateway outbox list --state dead", file=out)
    print(f"  curl {sims[0].url}/_sim/records      (what the {sims[0].platform} simulator received)", file=out)
    print("  .venv/bin/gateway translate --from anhui --to g60 --type case <file>", file=out)
    print("  docs/ (running, several instances, adding a city, rotating keys) and docs/decisions.md", file=out)


def demo_ports(config: Config, port_base: int | None) -> tuple[Config, dict[str, int], list[Listen]]:
    """Where everything listens: without ``--port-base``, the simulators on 9101... (the default configuration's
    ``base_url``s) and the gateway on ``[server]``; with it, EVERY port moves: the simulators on N, N+1, ... in the
    registry's order, then the gateway's plain listener and its mutual-TLS listener on the next two."""
    order = list(config.registry.platforms)
    sims = {pid: (port_base or DEFAULT_PORT_BASE) + i for i, pid in enumerate(order)}
    server = config.server
    if port_base is None:
        flag = "demo --port-base N (moves every port)"
        listens = [Listen(server.host, server.port, f"server.port in {config.source}, or {flag}")]
        if server.tls_port is not None:
            listens.append(Listen(server.host, server.tls_port, f"server.tls_port in {config.source}, or {flag}"))
    else:
        tls_port = None if server.tls_port is None else port_base + len(order) + 1
        server = replace(server, port=port_base + len(order), tls_port=tls_port)
        config = replace(config, server=server)
        listens = [Listen(server.host, server.port, "demo --port-base (the gateway: N + number of platforms)")]
        if tls_port is not None:
            listens.append(Listen(server.host, tls_port, "demo --port-base (the gateway's mutual TLS: next port)"))
    listens += [Listen("127.0.0.1", port, f"demo --port-base (the {pid} simulator)") for pid, port in sims.items()]
    return config, sims, listens


async def _run(config: Config, once: bool, out: TextIO, port_base: int | None, options: DemoOptions) -> int:
    config, _, _ = demo_ports(config, port_base)
    demo = _Demo(config, out)
    sims = await start_simulators(
        config,
        clock=time.time,
        transport=demo.transport,
        gateway_url=demo.gateway_url,
        port_base=port_base or DEFAULT_PORT_BASE,
        options={"hefei": {"catalogue_size": 2000}, "huainan": {"catalogue_size": 2000}},
    )
    for sim in sims:
        sim.plan.update({"error_rate": options.error_rate})
    data = copy.deepcopy(dict(config.raw))  # point the gateway at the simulators where they actually listen
    for sim in sims:
        data["platforms"][sim.platform]["base_url"] = sim.url
    data["server"] = {**data.get("server", {}), "port": config.server.port, "tls_port": config.server.tls_port}
    if config.server.tls_port is None:
        data["server"].pop("tls_port")
    config = parse_config(data, config.source, config.base_dir)
    # the operators' console is on in the demo ([console] port, or a free port), with a one-time admin login
    config = replace(config, console=replace(config.console, port=config.console.port or 0))
    demo.config = config
    app = await create_app(config, transport=demo.transport)
    runner, urls = await start_sites(app, config)
    try:
        print(f"gateway   {' and '.join(urls)}", file=out)
        await _print_console(app, out)
        for sim in sims:
            print(f"{sim.platform:9} {sim.url}", file=out)
        await demo.stream()
        stats = await _drained(app, options.wait)
        await demo.catalogue(app)
        _print_summary(demo, sims, stats, out)
        _where_next(demo, sims, out)
        left = sum(s.pending + s.delivering + s.dead for s in stats.values())
        if left:
            print(f"\ndemo: {left} message(s) left pending or dead (gateway outbox list); exit status 1", file=out)
        if not once:
            print("\nRunning; Ctrl-C stops.", file=out)
            await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await stop_simulators(sims)
        await demo.transport.close()
    return 1 if left else 0


async def _print_console(app: web.Application, out: TextIO) -> None:
    """The console's address and a one-time admin login (spent by its first use; more: gateway console add-user)."""
    from gateway.console import CONSOLE_URL, one_time_admin  # noqa: PLC0415

    name, password = await one_time_admin(app[STORE], time.time())
    print(f"console   {app[CONSOLE_URL].url}  one-time login: {name} / {password}", file=out)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How long the demo waits for the outbox to drain, and a platform fault rate to see retries happen."""

    wait: float = 30.0
    error_rate: float = 0.0  # share of calls every simulator answers 503


def run_demo(
    config: Config, *, once: bool, out: TextIO, port_base: int | None = None, options: DemoOptions | None = None
) -> int:
    """0 when everything accepted was delivered; 1 when anything is left pending or dead, or a port is busy."""
    _, _, listens = demo_ports(config, port_base)
    busy = first_busy(listens)
    if busy is not None:
        print(f"gateway demo: {busy.message()}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_run(config, once, out, port_base, options or DemoOptions()))
    except KeyboardInterrupt:
        return 0
