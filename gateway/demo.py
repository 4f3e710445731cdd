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
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from gateway.config import Config, parse_config
from gateway.consent import issue_consent
from gateway.delivery import DeliveryError, PermanentRefusal
from gateway.errors import Rejection
from gateway.links import dev_link_settings
from gateway.model.records import Case, Evaluation, LicenceQuery, StatusEvent
from gateway.model.timefmt import BEIJING
from gateway.server.app import create_app
from gateway.server.keys import STORE
from gateway.server.run import start_sites
from gateway.simulate.licences import LicenceLibrary
from gateway.simulate.run import RunningSimulator, start_simulators, stop_simulators
from gateway.transport import AiohttpTransport
from gateway.wire.base import PlatformClient, WireContext
from gateway.wire.registry import scheme

__all__ = ["run_demo"]


def _now() -> datetime:
    return datetime.now(UTC).astimezone(BEIJING).replace(microsecond=0)


def _case(n: int, sender_region: str, handling: str, item: str, item_type: str, applicant: Any) -> Case:
    from gateway.model.records import Material  # noqa: PLC0415

    return Case(
        case_no=f"DEMO{sender_region}{n:06d}", item_code=item, item_name="建筑工程施工许可证核发",
        item_type=item_type, handling_region=handling, project_name=f"演示申报 {n}", cross_region_mode="PROXY",
        applicant=applicant, dept_code="11340100MB1F6Q3A0Y", dept_name="办理部门", submitted_at=_now(),
        status="SUBMITTED", version=1, materials=(Material("申请表", 1, "申请表.pdf"),), promise_days=5,
    )


class _Demo:
    def __init__(self, config: Config, out: TextIO) -> None:
        self.config = config
        self.out = out
        self.transport = AiohttpTransport()
        self.results: Counter[tuple[str, str, str]] = Counter()
        self.gateway_url = f"http://{config.server.host}:{config.server.port}"

    def partner(self, pid: str) -> PlatformClient:
        registry = self.config.registry
        platform = registry.platforms[pid]
        wire = scheme(platform.dialect)
        _, sides = dev_link_settings(self.config.dev_credentials, registry)  # type: ignore[arg-type]
        link = wire.load_link(sides[pid].settings, sides[pid].base)
        base = self.gateway_url
        if pid == self.config.server.tls_platform and self.config.server.tls_port is not None:
            base = f"https://{self.config.server.host}:{self.config.server.tls_port}"  # g60.md §1: mutual TLS
        ctx = WireContext(platform, link, registry.adapter(platform.dialect), time.time, f"{base}/partners/{pid}")
        client: PlatformClient = wire.Client(ctx, self.transport)
        return client

    async def submit(self, sender: str, record_type: str, record: Any) -> None:
        try:
            await self.partner(sender).submit(record_type, record, str(uuid.uuid4()))
            self.results[(record_type, sender, "accepted")] += 1
        except PermanentRefusal as exc:
            self.results[(record_type, sender, f"refused {exc.code}")] += 1
        except (DeliveryError, Rejection) as exc:
            self.results[(record_type, sender, f"failed {type(exc).__name__}")] += 1

    async def stream(self) -> None:
        from gateway.model.records import Applicant, Evaluator  # noqa: PLC0415

        person = Applicant("NATURAL", "阿卜杜拉·买买提", "RESIDENT_ID", "11010519491231002X", phone="13800000000")
        company = Applicant("LEGAL", "合肥供应链管理有限公司", "USCC", "91340100MBNYP0QW75", "林丽")
        licensing = ("000172001000", "LICENSING")
        plans = [  # (sender, handling region) → the platform serving the region receives it
            ("ningbo", "340100"), ("changsha", "310117"), ("songjiang", "330200"), ("hefei", "430100"),
            ("ningbo", "320500"), ("huainan", "340100"),
        ]
        cases = []
        for n, (sender, region) in enumerate(plans, start=1):
            case = _case(n, sender[:2].upper(), region, *licensing, person if n % 2 else company)
            cases.append((sender, case))
            await self.submit(sender, "case", case)
        await self.submit("ningbo", "case", cases[0][1])  # a repeat: the first receipt, no second delivery
        bad = replace(cases[1][1], case_no="DEMOBAD000001",
                      applicant=replace(person, id_number="110105194912310021"))
        await self.submit("changsha", "case", bad)  # refused: GB 11643 check character
        for _, case in [*cases[:3], cases[4]]:  # the handling platform reports back; routed to the case's origin
            serving = self.config.registry.serving_platform(case.handling_region) or ""
            event = StatusEvent(case.case_no, 2, "ACCEPTED", _now(), case.handling_region, case.dept_code,
                                case.dept_name, "材料齐全，符合法定形式", promise_end=_now())
            if serving in self.config.registry.platforms:
                await self.submit(serving, "status", event)
        evaluation = Evaluation(
            "DEMOEVAL000001", cases[0][1].case_no, "000131005000", "食品经营许可", "11340400MBDB168C5K",
            "淮南市市场监督管理局", "340400", Evaluator("NATURAL", "孙文博", "RESIDENT_ID", "11010519491231002X"),
            "APPROVED", "APP", "DISSATISFIED", ("等待时间长",), _now(), "窗口排队超过一小时。", False,
        )
        await self.submit("ningbo", "evaluation", evaluation)
        await self.licence()

    async def catalogue(self, app: web.Application) -> None:
        try:
            await _sync_catalogue(self, app)
        except (DeliveryError, Rejection) as exc:
            self.results[("catalogue sync", "hefei", f"failed {type(exc).__name__}")] += 1

    async def licence(self) -> None:
        from gateway.wire.anhui import dev_consent_key, load_link  # noqa: PLC0415

        folder: Path = self.config.dev_credentials  # type: ignore[assignment]
        _, sides = dev_link_settings(folder, self.config.registry)
        link = load_link(sides["hefei"].settings, sides["hefei"].base)
        if link.licence_key is None:
            return
        library = LicenceLibrary(link.licence_key, link.licence_cert_sn, "340100")
        identifier = library.identifiers()[0]
        licence, _ = library.get(identifier)
        token = issue_consent(dev_consent_key(folder, "hefei"), sub=licence.holder_code, aud="ningbo",
                              scope=licence.type_code, purpose="DEMO000001", now=time.time())
        try:
            answer = await self.partner("ningbo").query_licence(LicenceQuery(identifier, "演示核验", token), "q")
            outcome = "answered, issuer signature verified" if answer.signature else "answered"
        except (DeliveryError, Rejection) as exc:
            outcome = f"refused {getattr(exc, 'code', type(exc).__name__)}"
        self.results[("licence query", "ningbo", outcome)] += 1


async def _sync_catalogue(demo: _Demo, app: web.Application) -> None:
    """A small catalogue sync: the hefei simulator's 2,000-item catalogue to yrd-map, as ``gateway sync`` runs it."""
    from gateway.sync.clients import sync_clients  # noqa: PLC0415
    from gateway.sync.engine import SyncSettings, run_sync  # noqa: PLC0415

    source, target = sync_clients(demo.config, "hefei", "yrd-map", demo.transport, time.time)
    report = await run_sync(SyncSettings("hefei", "yrd-map", full=True), source=source, target=target,
                            store=app[STORE])
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
    print(f"  curl -H \"Authorization: Bearer $(cat {demo.config.admin_token_file})\" {url}/admin/outbox", file=out)
    print("  .venv/bin/gateway outbox list --state dead", file=out)
    print(f"  curl {sims[0].url}/_sim/records      (what the {sims[0].platform} simulator received)", file=out)
    print("  .venv/bin/gateway translate --from anhui --to g60 --type case <file>", file=out)
    print("  docs/ (running, several instances, adding a city, rotating keys) and docs/decisions.md", file=out)


async def _run(config: Config, once: bool, out: TextIO, port_base: int) -> int:
    demo = _Demo(config, out)
    sims = await start_simulators(config, clock=time.time, transport=demo.transport, gateway_url=demo.gateway_url,
                                  port_base=port_base,
                                  options={"hefei": {"catalogue_size": 2000}, "huainan": {"catalogue_size": 2000}})
    data = copy.deepcopy(dict(config.raw))  # point the gateway at the simulators where they actually listen
    for sim in sims:
        data["platforms"][sim.platform]["base_url"] = sim.url
    config = parse_config(data, config.source, config.base_dir)
    demo.config = config
    app = create_app(config, transport=demo.transport)
    runner, urls = await start_sites(app, config)
    try:
        print(f"gateway   {' and '.join(urls)}", file=out)
        for sim in sims:
            print(f"{sim.platform:9} {sim.url}", file=out)
        await demo.stream()
        stats = await _drained(app, 30.0)
        await demo.catalogue(app)
        _print_summary(demo, sims, stats, out)
        _where_next(demo, sims, out)
        if not once:
            print("\nRunning; Ctrl-C stops.", file=out)
            await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await stop_simulators(sims)
        await demo.transport.close()
    return 0


def run_demo(config: Config, *, once: bool, out: TextIO, port_base: int = 9101) -> int:
    try:
        return asyncio.run(_run(config, once, out, port_base))
    except KeyboardInterrupt:
        return 0
