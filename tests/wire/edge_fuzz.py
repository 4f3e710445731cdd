"""The edge fuzzer: mutated, validly signed partner calls against a running gateway, per dialect.

Why this shape: the rule under test (issue 11) is that nothing parsing peer input raises anything but the gateway's
refusal type, so every answer of a partner endpoint is the dialect's own answer or refusal, signed as the dialect
signs, and never a 5xx fault. The calls are made by each partner's real ``Client`` (the platform's side of the dev
link), so they are signed exactly as a partner signs, with fresh timestamps and nonces and real tokens:

- a body mutation is applied to the bytes the adapter renders, *before* the client signs them (a wrapping adapter),
  so the signature is valid and the mutation reaches the parsers behind the signature check;
- a header (or query parameter) mutation is applied to the request the client built, *after* it signed it (a
  wrapping transport), so the transport checks themselves are fuzzed; so is, in one example of four, the body
  mutation, so that the signature's own parts (an XMLDSig ``SignatureValue``, a SOAP ``AuthHeader``) are fuzzed.

Every answer the wrapping transport sees is judged by :func:`judge` with the partner's own verification keys. The
gateway runs in-process on loopback (one app and the simulators per fuzz run, a real SQLite store, no workers).
Used by ``tests/wire/test_fuzz_edge.py`` (a few thousand examples in CI) and ``bench/fuzz_edge.py`` (longer).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import socket
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web
from hypothesis import strategies as st
from lxml import etree

from adapters.anhui import scheme as anhui_wire
from adapters.g60.codec import parse_envelope
from adapters.g60.scheme import verify_signature
from adapters.hunan import scheme as hunan_wire
from adapters.shanghai.codec import auth_header, read_envelope, read_reply
from adapters.shanghai.scheme import verify_auth
from adapters.wire import HttpRequest, HttpResponse
from adapters.zlb.codec import parse_response
from adapters.zlb.scheme import verify_sm2_headers
from gateway.config import DEFAULT_CONFIG, Config, parse_config
from gateway.delivery.outcomes import DeliveryError
from gateway.dialects import dialect
from gateway.errors import Refusal
from gateway.links import dev_link_settings
from gateway.model.records import LicenceQuery
from gateway.server.app import create_app
from gateway.server.keys import SERVER_TLS
from gateway.simulate.run import RunningSimulator, start_simulators, stop_simulators
from gateway.transport import AiohttpTransport, Transport
from gateway.wire.base import PlatformClient, WireContext
from signing.errors import SigningError

__all__ = [
    "DIALECT_PARTNERS",
    "EdgeRig",
    "Mutation",
    "fault",
    "judge",
    "mutations",
    "prepare_credentials",
    "start_rig",
    "unsigned",
]

#: the partners whose endpoints the fuzzer calls (yrd-map is left out: it calls no gateway route, and its route on
#: the gateway needs a client certificate the mutual-TLS listener, which serves the g60 hub's CA, never accepts)
DIALECT_PARTNERS: dict[str, tuple[str, ...]] = {
    "anhui": ("hefei",),
    "zlb": ("ningbo",),
    "hunan": ("changsha",),
    "shanghai": ("songjiang",),
    "g60": ("g60",),
}
#: the headers a transport owns; fuzzing them tests aiohttp, not the gateway
_TRANSPORT_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})


# --- mutations --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutation:
    """What one example changes: the body (before signing), a header or query value (after signing), or both."""

    body: tuple[str, float, Any] | None  # (kind, where in [0, 1), payload)
    header: tuple[str, float, str] | None  # (kind, which in [0, 1), value)
    after_signing: bool = False  # the body mutation hits the signed bytes (the signature's own parts included)


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**70, -(10**70), 0, -1, 999_999_999, 1_000_000_000]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\u0000", "𠀐䶮", "9" * 5000, "2025-06-01T12:00:00+08:00", "<x/>", "&amp;"]),
)
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
_text = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(["", "-1", "0", "9" * 5000, "20250601120000", "true", "&lt;", "]]>", "𠀐"]),
)
_header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
_raw = st.binary(max_size=24)
#: query values worth trying: numbers past Python's int digit limit (4300) still fit aiohttp's 8190-byte request line
_query_text = st.sampled_from(["9" * 4400, "0", "-1", "", "１２"])


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    """A body mutation, a header mutation, or both (hypothesis shrinks towards the smallest that fails)."""
    where = st.floats(min_value=0, max_value=1, exclude_max=True)
    body_kind = st.sampled_from(
        ["none", "value", "drop", "duplicate", "text", "attribute", "child", "splice", "truncate"]
    )
    kind = draw(body_kind)
    payload: Any = None
    if kind == "value":
        payload = draw(_json_value)
    elif kind in ("text", "attribute", "child"):
        payload = draw(_text)
    elif kind == "splice":
        payload = draw(_raw)
    body = None if kind == "none" else (kind, draw(where), payload)
    header_kind = draw(st.sampled_from(["none", "none", "set", "drop", "append", "query"]))
    values = _header_text | _query_text if header_kind == "query" else _header_text
    header = None if header_kind == "none" else (header_kind, draw(where), draw(values))
    return Mutation(body, header, body is not None and draw(st.integers(0, 3)) == 0)


def _pick(items: list[Any], where: float) -> Any:
    return items[min(int(where * len(items)), len(items) - 1)]


def _json_slots(node: Any, out: list[tuple[Any, Any]]) -> None:
    """Every (container, key) of a JSON tree, depth first."""
    if isinstance(node, dict):
        for key in node:
            out.append((node, key))
            _json_slots(node[key], out)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out.append((node, i))
            _json_slots(child, out)


def _mutate_json(body: bytes, kind: str, where: float, payload: Any) -> bytes | None:
    try:
        tree = json.loads(body)
    except ValueError:
        return None
    slots: list[tuple[Any, Any]] = []
    _json_slots(tree, slots)
    if not slots:
        return None
    parent, key = _pick(slots, where)
    if kind in ("value", "text", "attribute", "child"):
        parent[key] = payload
    elif kind == "drop":
        del parent[key]
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif kind == "duplicate":  # a repeated key in an object: written by hand, json.dumps cannot
        text = json.dumps(tree, ensure_ascii=False)
        first = json.dumps(key, ensure_ascii=False) + ":"
        at = text.find(first)
        return None if at < 0 else (text[:at] + first + '"x",' + text[at:]).encode("utf-8")
    else:
        return None
    return json.dumps(tree, ensure_ascii=False).encode("utf-8")


def _mutate_xml(body: bytes, kind: str, where: float, payload: Any) -> bytes | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return None
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    target = _pick(elements, where)
    try:
        if kind in ("value", "text"):
            target.text = payload if isinstance(payload, str) else json.dumps(payload)
        elif kind == "attribute":
            names = list(target.attrib) or ["extra"]
            target.set(_pick(names, where), payload)
        elif kind == "child":
            etree.SubElement(target, target.tag if target is not root else "Extra").text = payload
        elif kind == "drop" and target is not root:
            target.getparent().remove(target)
        elif kind == "duplicate" and target is not root:
            target.addnext(copy.deepcopy(target))
        else:
            return None
    except (ValueError, TypeError):  # lxml refuses text that XML cannot hold: send it spliced instead
        return None
    encoding = root.getroottree().docinfo.encoding or "UTF-8"
    return etree.tostring(root, xml_declaration=True, encoding=encoding)


def mutate_body(body: bytes, mutation: tuple[str, float, Any], xml: bool) -> bytes:
    """The body with one mutation; a structural one falls back to a byte splice when it does not apply."""
    kind, where, payload = mutation
    if kind not in ("splice", "truncate"):
        try:
            changed = (_mutate_xml if xml else _mutate_json)(body, kind, where, payload)
        except Exception:
            changed = None
        if changed is not None:
            return changed
        kind, payload = "splice", str(payload).encode("utf-8", "surrogatepass")[:24]
    at = int(where * (len(body) + 1))
    if kind == "truncate":
        return body[:at]
    return body[:at] + bytes(payload) + body[at + len(payload) // 2 :]


def mutate_request(request: HttpRequest, mutation: tuple[str, float, str]) -> HttpRequest:
    """The signed request with one header or query value changed, dropped or lengthened."""
    kind, where, value = mutation
    if kind == "query":
        parts = urlsplit(request.url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if query:
            i = min(int(where * len(query)), len(query) - 1)
            query[i] = (query[i][0], value)
        else:
            query = [("x", value)]
        return replace(request, url=urlunsplit(parts._replace(query=urlencode(query))))
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _TRANSPORT_HEADERS}
    names = sorted(headers)
    if not names:
        return request
    name = _pick(names, where)
    if kind == "drop":
        del headers[name]
    elif kind == "append":
        headers[name] = headers[name] + value
    else:
        headers[name] = value
    return replace(request, headers=headers)


class _MutatingAdapter:
    """The partner's adapter with ``encode`` mutating what it renders; the client then signs the mutated bytes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.mutation: tuple[str, float, Any] | None = None
        self.last: bytes | None = None

    def encode(self, *args: Any, **kwargs: Any) -> bytes:
        body: bytes = self._inner.encode(*args, **kwargs)
        if self.mutation is not None:
            body = mutate_body(body, self.mutation, self._inner.settings.get("syntax") == "xml")
        self.last = body
        return body

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Recording(Transport):
    """The real transport, with the header mutation applied to each request and every answer kept."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.mutation: tuple[str, float, str] | None = None
        self.body_mutation: tuple[str, float, Any] | None = None
        self.xml = False
        self.seen: list[tuple[HttpRequest, HttpResponse]] = []
        self.failures: list[str] = []

    async def send(self, request: HttpRequest, *, timeout: float | None = None) -> HttpResponse:
        if self.mutation is not None:
            request = mutate_request(request, self.mutation)
        if self.body_mutation is not None and request.body:
            request = replace(request, body=mutate_body(request.body, self.body_mutation, self.xml))
        try:
            response = await self.inner.send(request, timeout=timeout)
        except Exception as exc:
            self.failures.append(f"{request.method} {urlsplit(request.url).path}: {type(exc).__name__} {exc}")
            raise
        self.seen.append((request, response))
        return response


# --- the judge ----------------------------------------------------------------------------------------------------
def unsigned(dialect: str, link: Any, response: HttpResponse, now: float) -> str | None:
    """Why ``response`` is not signed as ``dialect`` signs its answers, refusals and faults, or ``None``."""
    headers, body = response.headers, response.body
    try:
        if dialect == "anhui":
            anhui_wire.verify_body(response.header(anhui_wire.H_JWS), body, link.peer_jws_keys)
        elif dialect == "zlb":
            verify_sm2_headers(headers, body, link.peer_certs)
        elif dialect == "hunan":
            hunan_wire.verify_response(response.status, headers, body, link.peer_signing_keys)
        elif dialect == "shanghai":
            message = read_envelope(body)
            reply = read_reply(body, message.operation_name.removesuffix("Response"))
            fault = reply.fault
            if fault is not None and fault.code == "AUTH_FAILED" and auth_header(message.envelope) is None:
                return None  # shanghai.md §2: the unknown-appId fault is the one unsigned answer
            verify_auth(message, link.secret_for)
        elif dialect == "g60":
            header, root = parse_envelope(body)
            verify_signature(root, header, link.trust, now)
            if header.get("SenderCode") not in link.peer_codes:
                return "signed by someone else"
        else:
            return f"no judge for {dialect}"
    except (Refusal, SigningError) as exc:
        return f"unsigned or unreadable answer ({exc})"
    return None


def fault(dialect: str, response: HttpResponse) -> str | None:
    """Why ``response`` is the dialect's platform-fault form (a 5xx, zlb code 99, ``soap:Server``), or ``None``."""
    status, body = response.status, response.body
    try:
        if dialect == "shanghai":
            if status not in (200, 500):
                return f"HTTP {status}"
            message = read_envelope(body)
            reply = read_reply(body, message.operation_name.removesuffix("Response"))
            return "soap:Server fault" if reply.fault is not None and reply.fault.server else None
        if dialect == "g60" and status != 200:
            return f"HTTP {status}"
        if status >= 500:
            return f"HTTP {status}"
        if dialect == "zlb" and parse_response(body).code == "99":
            return "platform fault 99"
    except Refusal as exc:
        return f"unreadable answer ({exc})"
    return None


def judge(dialect: str, link: Any, response: HttpResponse, now: float) -> str | None:
    """Why ``response`` breaks the rule (a fault, or an answer not signed as the dialect signs), or ``None``."""
    return fault(dialect, response) or unsigned(dialect, link, response, now)


# --- the rig: one gateway and the simulators, on loopback -------------------------------------------------------
def _free_socket() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return sock, port


def _config(dev: Path, store_url: str, port: int, tls_port: int, base_urls: dict[str, str]) -> Config:
    data: dict[str, Any] = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["store"]["url"] = store_url
    data["dev"]["credentials"] = str(dev)
    data["admin"]["token_file"] = str(dev / "admin-token")
    data["server"]["port"] = port
    data["server"]["tls_port"] = tls_port
    for pid, url in base_urls.items():
        data["platforms"][pid]["base_url"] = url
    for entry in data["platforms"].values():
        entry["rate_limit"] = 1_000_000  # the fuzzer is a burst; the documented rates are tested elsewhere
    return parse_config(data, "edge fuzz configuration", dev.parent)


@dataclass
class _Call:
    """One kind of call a partner makes: the operation name and how its client makes it."""

    name: str
    make: Callable[[PlatformClient, str], Awaitable[Any]]


@dataclass
class EdgeRig:
    """A running gateway with the simulators, and each partner's mutating client."""

    config: Config
    app: web.Application
    gateway_url: str
    tls_url: str
    calls: dict[str, list[_Call]]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    clients: dict[str, tuple[PlatformClient, _MutatingAdapter, _Recording, Any]] = field(default_factory=dict)
    templates: dict[str, HttpRequest] = field(default_factory=dict)
    #: how the partner's client read each example's answer ("ok", a README §10 code, or an exception class)
    outcomes: Counter[str] = field(default_factory=Counter)
    examples: int = 0
    answers: int = 0
    last_error: Exception | None = None
    unanswered: int = 0  # examples that sent nothing (the client refused the mutated record before any request)

    async def run(self, pid: str, call_index: float, mutation: Mutation) -> list[str]:
        """One example: the partner ``pid`` makes one of its calls with ``mutation``; the rule's breaches."""
        client, adapter, recording, link = self.clients[pid]
        dialect = self.config.registry.platforms[pid].dialect
        call = _pick(self.calls[pid], call_index)
        template = await self._template(pid, call)
        if mutation.after_signing:
            recording.body_mutation = mutation.body
        else:
            adapter.mutation = mutation.body
        recording.mutation = mutation.header
        recording.seen.clear()
        adapter.last = None
        try:
            await call.make(client, uuid.uuid4().hex)
            self.outcomes[f"{pid}:ok"] += 1
        except Exception as exc:
            self.outcomes[f"{pid}:{getattr(exc, 'code', type(exc).__name__)}"] += 1
            self.last_error = exc  # itself), or the client could not sign or send what the mutation left
        try:
            if (
                not recording.seen and adapter.last is not None
            ):  # unsent: the bytes go out as they are, with signed headers
                await recording.send(replace(template, body=adapter.last))
        finally:
            adapter.mutation = recording.mutation = recording.body_mutation = None
        self.examples += 1
        self.answers += len(recording.seen)
        if not recording.seen and not recording.failures:
            self.unanswered += 1
        recording.failures.clear()
        now = time.time()
        breaches = []
        for request, response in recording.seen:
            reason = judge(dialect, link, response, now)
            if reason is not None:
                breaches.append(f"{pid} {call.name} {request.method} {urlsplit(request.url).path}: {reason}")
        return breaches

    async def _template(self, pid: str, call: _Call) -> HttpRequest:
        """The last request of an unmutated call (made once): URL and headers for bytes no client would sign."""
        key = f"{pid}/{call.name}"
        if key not in self.templates:
            client, _, recording, _ = self.clients[pid]
            recording.seen.clear()
            with contextlib.suppress(DeliveryError, Refusal, SigningError):
                await call.make(client, uuid.uuid4().hex)
            self.templates[key] = recording.seen[-1][0]
        return self.templates[key]

    @staticmethod
    def now() -> float:
        return time.time()

    async def close(self) -> None:
        for close in self.closers:
            await close()
        self.closers.clear()


def _samples(samples_dir: Path, config: Config, dialect: str) -> dict[str, Any]:
    """The first golden sample of each record type that decodes in ``dialect`` (the bad samples do not)."""
    adapter = config.registry.adapter(dialect)
    found: dict[str, Any] = {}
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["dialect"] != dialect or row["type"] in found:
                continue
            try:
                found[row["type"]] = adapter.decode(row["type"], (samples_dir / row["file"]).read_bytes())
            except Refusal:
                continue
    return found


def _calls(config: Config, pid: str, samples: dict[str, Any]) -> list[_Call]:
    platform = config.registry.platforms[pid]
    dialect = platform.dialect
    carried = set(platform.record_types) or set(config.registry.adapter(dialect).record_types)
    calls: list[_Call] = []
    for record_type in ("case", "status", "evaluation"):
        if record_type in carried and record_type in samples:
            record = samples[record_type]
            calls.append(_Call(record_type, lambda c, mid, t=record_type, r=record: c.submit(t, r, mid)))
    licence = samples.get("licence")
    if licence is not None and dialect != "hunan":
        query = LicenceQuery(licence.identifier, "核验", "not.a.token")
        calls.append(_Call("licence_query", lambda c, mid, q=query: c.query_licence(q, mid)))
    if "item" in samples and "item" in carried and dialect == "g60":
        batch = samples["item"]
        calls.append(_Call("item_batch", lambda c, mid, b=batch: c.upload_items(b, mid)))
    if dialect == "anhui":
        calls.append(_Call("catalogue", lambda c, mid: c.fetch_catalogue(1, 10, None)))
    if dialect == "hunan":
        case_no = samples["case"].case_no
        calls.append(_Call("read_case", lambda c, mid, n=case_no: c.read_case(n)))  # type: ignore[attr-defined]
    return calls


async def start_rig(dev: Path, store_url: str, samples_dir: Path, pids: tuple[str, ...]) -> EdgeRig:
    """The gateway (no delivery workers) and every simulator on loopback, and a mutating client per ``pids``."""
    sock, port = _free_socket()
    tls_sock, tls_port = _free_socket()
    base = _config(dev, store_url, port, tls_port, {})
    transport = AiohttpTransport()
    running: list[RunningSimulator] = await start_simulators(
        base, port_base=None, clock=time.time, transport=transport, gateway_url=f"http://127.0.0.1:{port}"
    )
    config = _config(dev, store_url, port, tls_port, {r.platform: r.url for r in running})
    app = await create_app(config, transport=transport, run_workers=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    if app[SERVER_TLS] is not None:
        await web.SockSite(runner, tls_sock, ssl_context=app[SERVER_TLS]).start()
    else:
        tls_sock.close()

    async def stop_sims() -> None:
        await stop_simulators(running)

    rig = EdgeRig(
        config,
        app,
        f"http://127.0.0.1:{port}",
        f"https://127.0.0.1:{tls_port}",
        {},
        [runner.cleanup, stop_sims, transport.close],
    )
    _, sides = dev_link_settings(dev, config.registry)
    for pid in pids:
        platform = config.registry.platforms[pid]
        declared = dialect(platform.dialect)
        link = declared.load_link(sides[pid].settings, sides[pid].base)
        adapter = _MutatingAdapter(config.registry.adapter(platform.dialect))
        recording = _Recording(transport)
        recording.xml = adapter.settings.get("syntax") == "xml"
        url = (rig.tls_url if platform.dialect == "g60" else rig.gateway_url) + f"/partners/{pid}"
        ctx = WireContext(platform, link, adapter, time.time, url)  # type: ignore[arg-type]
        rig.clients[pid] = (declared.client(ctx, recording), adapter, recording, link)
        rig.calls[pid] = _calls(config, pid, _samples(samples_dir, config, platform.dialect))
    return rig


def prepare_credentials(dev: Path) -> None:
    """Development credentials for every link under ``dev`` (RSA keys are slow: once per run)."""
    config = _config(dev, f"sqlite:///{dev / 'unused.db'}", 0, 0, {})
    dev_link_settings(dev, config.registry)
