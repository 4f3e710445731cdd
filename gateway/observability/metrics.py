"""Every metric the gateway exposes, on a registry the caller owns (STYLE lesson 8: no process-global registry).

Label values come from bounded sets only (see :mod:`.labels`): configured platform ids, destinations, key ids and
region codes, and closed sets in code (README §10 rejection codes, delivery outcome kinds, breaker states). A case
number, ID number, name or free text is never a label value: anything outside the allow-lists is written ``other``.

Latency buckets suit a gateway that answers in 1–50 ms, with a tail up to 10 s for slow partners.
docs/operations.md has the table of metrics; ops/ has the dashboard and the alerts that use them.

Under ``gateway serve --workers N`` (issue 15 item 4) every worker's values live in memory-mapped files of one
per-run directory (prometheus_client's multiprocess mode, switched on in each forked worker by
:func:`share_across_processes` before any metric exists), and ``/metrics``, whichever worker answers it, shows the
sum over the workers: counters and histograms add up, and each gauge says how its workers' values combine
(``multiprocess_mode``: the most recent reading of the shared store, the worst breaker, the nearest expiry...).
The ``process_*`` family is summed over the workers' ``/proc`` entries (CPU, memory, descriptors; the earliest start).
"""

from __future__ import annotations

import csv
import itertools
import operator
import os
import platform as _platform
import re
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway.delivery.breaker import BreakerState
from gateway.delivery.outcomes import TransientKind
from gateway.delivery.policy import DELIVERY_ATTEMPTS_EXHAUSTED, DELIVERY_EXPIRED
from gateway.errors import RejectionCode

from .labels import OTHER, LabelGuard
from .personal_fields import CATALOGUE, MAPPINGS_DIR
from .refusals import EDGE_CODES, STAGES, stage_of

__all__ = [
    "API",
    "BREAKER_LEVELS",
    "CONTENT_TYPE",
    "DEFAULT_CONSENT_REASONS",
    "DELIVERY_LATENCY_BUCKETS",
    "DELIVERY_OUTCOMES",
    "LATENCY_BUCKETS",
    "LICENCE_QUERY_OUTCOMES",
    "METRIC_NAMES",
    "REFUSAL_CODES",
    "SYNC_OUTCOMES",
    "UNVERIFIED",
    "GatewayMetrics",
    "WorkerRegistry",
    "crosswalk_regions",
    "share_across_processes",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

ACCEPTED = "accepted"
UNVERIFIED = "unverified"  # the operation of a partner call refused before its operation was known (edge.py)
API = "api"  # the platform label of the gateway's own API (/v1/translate, /admin): its refusals are counted too
ERROR = "error"
_CODES = tuple(code.value for code in RejectionCode)
REQUEST_OUTCOMES = (ACCEPTED, ERROR, *_CODES, *EDGE_CODES)  # EDGE_CODES: rate limit and slow-call refusals
# "dead": the attempt's outcome moved the message to the dead letters (a refusal, expiry or exhausted attempts)
DELIVERY_OUTCOMES = ("delivered", "refused", "breaker_open", "dead", *(kind.value for kind in TransientKind))
# UNKNOWN_DESTINATION: the worker has no client for the message's destination (gateway/pipeline/worker.py)
# DESTINATION_MISCONFIGURED, TRANSPORT_REFUSED: the transport's table (gateway/transport.py TRANSPORT_ERRORS)
DEAD_LETTER_CODES = (
    *_CODES,
    DELIVERY_EXPIRED,
    DELIVERY_ATTEMPTS_EXHAUSTED,
    "UNKNOWN_DESTINATION",
    "DESTINATION_MISCONFIGURED",
    "TRANSPORT_REFUSED",
)
REFUSAL_CODES = (*_CODES, *EDGE_CODES)
# seconds from acceptance into the outbox to the destination's confirmation: 50 ms when all is well, hours in an
# outage (the outbox keeps a message up to its expiry)
DELIVERY_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
SYNC_OUTCOMES = ("created", "updated", "deleted", "unchanged", "refused")
LICENCE_QUERY_OUTCOMES = ("found", "not_found", ERROR, *_CODES)
BREAKER_LEVELS = {BreakerState.CLOSED.value: 0, BreakerState.HALF_OPEN.value: 1, BreakerState.OPEN.value: 2}
# gateway/consent.py and signing/jwt.py refusal reasons (stable machine strings, never values).
DEFAULT_CONSENT_REASONS = (
    "missing_token",
    "malformed_token",
    "alg_not_allowed",
    "unknown_kid",
    "key_not_trusted",
    "signature_invalid",
    "token_invalid",
    "bad_claim",
    "missing_claim",
    "expired",
    "not_yet_valid",
    "lifetime_too_long",
    "out_of_scope",
    "wrong_subject",
    "missing_jti",
    "jti_reused",
)


def crosswalk_regions(mappings_dir: Path = MAPPINGS_DIR) -> tuple[str, ...]:
    """The region codes of ``crosswalk/regions.csv``: the default bounded set for per-region metrics."""
    with (mappings_dir / "crosswalk" / "regions.csv").open(encoding="utf-8", newline="") as fh:
        return tuple(row["region_code"] for row in csv.DictReader(fh) if row.get("region_code"))


class GatewayMetrics:
    """The gateway's metrics on ``registry``; methods are named for what the caller observed.

    ``platforms`` are the configured platform ids; ``destinations`` default to them. ``operations`` default to
    the record types of the mappings plus ``translate``; ``dialects`` and ``regions`` default to the mappings'
    dialects and the crosswalk's region codes. Gauges per destination start at 0 so alerts see every series.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        platforms: Iterable[str],
        destinations: Iterable[str] | None = None,
        operations: Iterable[str] | None = None,
        dialects: Iterable[str] | None = None,
        regions: Iterable[str] | None = None,
        key_ids: Iterable[str] = (),
        consent_reasons: Iterable[str] = DEFAULT_CONSENT_REASONS,
    ) -> None:
        self.registry = registry
        platforms = tuple(platforms)
        destinations = tuple(platforms if destinations is None else destinations)
        regions = tuple(regions) if regions is not None else crosswalk_regions()
        self.label_rejections = Counter(
            "tongban_metric_label_rejections",
            "Label values written as 'other' because they were not allowed",
            ["label"],
            registry=registry,
        )
        self.labels = LabelGuard(
            {
                "platform": (*platforms, API),
                "destination": destinations,
                "operation": (
                    *(operations if operations is not None else (*CATALOGUE.record_types, "translate")),
                    UNVERIFIED,
                ),
                "dialect": tuple(dialects) if dialects is not None else CATALOGUE.dialects,
                "region": regions,
                "key_id": tuple(key_ids),
                "outcome": REQUEST_OUTCOMES,
                "code": _CODES,
                "refusal_code": REFUSAL_CODES,
                "stage": STAGES,
                "dead_letter_code": DEAD_LETTER_CODES,
                "delivery_outcome": DELIVERY_OUTCOMES,
                "retry_kind": tuple(kind.value for kind in TransientKind),
                "sync_outcome": SYNC_OUTCOMES,
                "licence_outcome": LICENCE_QUERY_OUTCOMES,
                "reason": tuple(consent_reasons),
            },
            on_reject=lambda label: self.label_rejections.labels(label=label).inc(),
        )
        #: (platform, operation, outcome) → the request counter's and duration histogram's children; the keys are
        #: cleaned label values, so the dict is bounded like the series themselves
        self._request_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._define(registry)
        self._initialise(platforms, destinations, regions)

    def _initialise(self, platforms: tuple[str, ...], destinations: tuple[str, ...], regions: tuple[str, ...]) -> None:
        """Every labelled counter at 0 for each label set known now (configured platforms and destinations, the
        closed code and outcome sets), and every gauge per destination at its resting value.

        Why: Prometheus sees a series at its first sample. A counter created at its first increment appears already
        at 1 (or 3), so ``increase()`` over it is 0 and an alert on "any new dead letter" never fires on the first
        ones. Label sets are bounded (platforms × codes), so this costs a few thousand series at most.
        """
        allowed = self.labels.allowed
        for destination in destinations:
            self.set_outbox(destination, 0, 0.0)
            self.set_breaker(destination, BreakerState.CLOSED)
            for outcome in DELIVERY_OUTCOMES:
                self.delivery_attempts.labels(destination=destination, outcome=outcome)
            for kind in TransientKind:
                self.delivery_retries.labels(destination=destination, kind=kind.value)
            for code in DEAD_LETTER_CODES:
                self.dead_letters.labels(destination=destination, code=code)
        operations = sorted(allowed("operation") - {OTHER})
        for p in platforms:
            for op, outcome in itertools.product(operations, REQUEST_OUTCOMES):
                self.requests.labels(platform=p, operation=op, outcome=outcome)
            for outcome in SYNC_OUTCOMES:
                self.sync_items.labels(platform=p, outcome=outcome)
            self.sync_batches.labels(platform=p)
            for outcome in LICENCE_QUERY_OUTCOMES:
                self.licence_queries.labels(platform=p, outcome=outcome)
            for reason in sorted(allowed("reason") - {OTHER}):
                self.consent_refusals.labels(platform=p, reason=reason)
        for p in (*platforms, API) if platforms else ():
            for code in REFUSAL_CODES:
                self.refusals.labels(platform=p, stage=stage_of(code), code=code)
            for code in (RejectionCode.AUTH_FAILED, RejectionCode.SIGNATURE_INVALID, RejectionCode.REPLAYED):
                self.auth_refusals.labels(platform=p, code=code.value)
        for dialect, code in itertools.product(sorted(allowed("dialect") - {OTHER}), _CODES):
            self.translation_refusals.labels(dialect=dialect, code=code)
        for region in regions:
            self.bad_reviews.labels(region=region)
        for label in self.labels.names():
            self.label_rejections.labels(label=label)
        self.label_rejections.labels(label="breaker_state")

    def _define(self, r: CollectorRegistry) -> None:
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, ... (Linux)
        PlatformCollector(registry=r)  # python_info
        self.build_info = Gauge(
            "tongban_build_info",
            "Always 1: the running gateway's version and Python",
            ["version", "python"],
            registry=r,
            multiprocess_mode="max",
        )
        self.build_info.labels(version=_version(), python=_platform.python_version()).set(1)
        self.refusals = Counter(
            "tongban_refusals",
            "Every refusal answered to a partner, by platform, stage and stable code",
            ["platform", "stage", "code"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "tongban_delivery_latency_seconds",
            "Time from acceptance into the outbox to the destination's receipt",
            ["destination"],
            buckets=DELIVERY_LATENCY_BUCKETS,
            registry=r,
        )
        self.sync_last_run = Gauge(
            "tongban_sync_last_run_timestamp_seconds",
            "Unix time the last catalogue sync run from a platform ended",
            ["platform"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.sync_last_run_ok = Gauge(
            "tongban_sync_last_run_success",
            "1 when the last catalogue sync run from a platform sent everything",
            ["platform"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.sync_last_run_items = Gauge(
            "tongban_sync_last_run_items",
            "Items of the last catalogue sync run from a platform, by outcome",
            ["platform", "outcome"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.requests = Counter(
            "tongban_requests",
            "Requests handled, by platform, operation and outcome (accepted or a README §10 code)",
            ["platform", "operation", "outcome"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "tongban_request_duration_seconds",
            "Time to answer a request",
            ["platform", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.translation_refusals = Counter(
            "tongban_translation_refusals",
            "Records refused while translating, by source dialect and code",
            ["dialect", "code"],
            registry=r,
        )
        self.auth_refusals = Counter(
            "tongban_auth_refusals",
            "Authentication and signature refusals, by platform and code",
            ["platform", "code"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "tongban_outbox_depth",
            "Messages waiting in the outbox",
            ["destination"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.outbox_oldest_age = Gauge(
            "tongban_outbox_oldest_age_seconds",
            "Age of the oldest pending outbox message",
            ["destination"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.delivery_attempts = Counter(
            "tongban_delivery_attempts",
            "Delivery attempts, by destination and outcome kind",
            ["destination", "outcome"],
            registry=r,
        )
        self.delivery_retries = Counter(
            "tongban_delivery_retries",
            "Retries scheduled, by destination and transient kind",
            ["destination", "kind"],
            registry=r,
        )
        self.dead_letters = Counter(
            "tongban_dead_letters",
            "Messages moved to the dead letters, by destination and code",
            ["destination", "code"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "tongban_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ["destination"],
            registry=r,
            multiprocess_mode="livemax",  # the worst breaker of the workers alive
        )
        self.key_expiry_seconds = Gauge(
            "tongban_key_expiry_seconds",
            "Seconds until a certificate or key stops being valid (negative: expired)",
            ["platform", "key_id"],
            registry=r,
            multiprocess_mode="min",
        )
        self.sync_items = Counter(
            "tongban_sync_items",
            "Catalogue items processed by the sync job, by outcome",
            ["platform", "outcome"],
            registry=r,
        )
        self.sync_batches = Counter(
            "tongban_sync_batches",
            "Catalogue pages or batches processed",
            ["platform"],
            registry=r,
        )
        self.sync_progress = Gauge(
            "tongban_sync_progress_ratio",
            "Progress of the running catalogue sync (0 to 1)",
            ["platform"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.sync_last_success = Gauge(
            "tongban_sync_last_success_timestamp_seconds",
            "Unix time of the last fully successful catalogue sync",
            ["platform"],
            registry=r,
            multiprocess_mode="max",
        )
        self.bad_reviews = Counter(
            "tongban_bad_reviews",
            "差评 (evaluations at level 不满意 or 非常不满意), by region code",
            ["region"],
            registry=r,
        )
        self.licence_queries = Counter(
            "tongban_licence_queries",
            "Licence queries, by platform and outcome",
            ["platform", "outcome"],
            registry=r,
        )
        self.consent_refusals = Counter(
            "tongban_consent_refusals",
            "Licence queries refused for their holder consent, by platform and reason",
            ["platform", "reason"],
            registry=r,
        )
        self.seal_age = Gauge(
            "tongban_message_log_seal_age_seconds",
            "Age of the newest seal over the message log",
            registry=r,
            multiprocess_mode="min",
        )

    # --- requests ------------------------------------------------------------------------------------------------
    def observe_request(self, platform: str, operation: str, outcome: object, seconds: float) -> None:
        """One request answered: ``outcome`` is ``accepted``, a :class:`RejectionCode` or ``error``."""
        guard = self.labels
        key = (guard.clean("platform", platform), guard.clean("operation", operation), guard.clean("outcome", outcome))
        children = self._request_children.get(key)
        if children is None:  # once per label set: prometheus_client's ``labels`` validates and locks on every call
            p, op, out = key
            children = (
                self.requests.labels(platform=p, operation=op, outcome=out),
                self.request_seconds.labels(platform=p, operation=op),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(max(seconds, 0.0))

    def count_refusal(self, platform: str, code: str) -> None:
        """One refusal answered to ``platform``; the stage follows from the code (:func:`.refusals.stage_of`)."""
        c = self.labels.clean("refusal_code", code)
        self.refusals.labels(platform=self.labels.clean("platform", platform), stage=stage_of(c), code=c).inc()

    def refuse_translation(self, dialect: str, code: object) -> None:
        self.translation_refusals.labels(
            dialect=self.labels.clean("dialect", dialect), code=self.labels.clean("code", code)
        ).inc()

    def refuse_auth(self, platform: str, code: object) -> None:
        """A transport-level refusal (AUTH_FAILED, SIGNATURE_INVALID, REPLAYED) of a message from ``platform``."""
        self.auth_refusals.labels(
            platform=self.labels.clean("platform", platform), code=self.labels.clean("code", code)
        ).inc()

    # --- outbox and delivery -------------------------------------------------------------------------------------
    def set_outbox(self, destination: str, depth: int, oldest_age: float) -> None:
        """The outbox as last read: pending messages and the age in seconds of the oldest (0 when empty)."""
        d = self.labels.clean("destination", destination)
        if d == OTHER:
            return  # a gauge for "other" would mix unrelated destinations
        self.outbox_depth.labels(destination=d).set(depth)
        self.outbox_oldest_age.labels(destination=d).set(oldest_age if depth else 0.0)

    def observe_delivery(self, destination: str, outcome: object) -> None:
        """One attempt: ``delivered``, ``refused``, ``breaker_open`` or a transient kind (``timeout``, ...)."""
        self.delivery_attempts.labels(
            destination=self.labels.clean("destination", destination),
            outcome=self.labels.clean("delivery_outcome", outcome),
        ).inc()

    def observe_delivery_latency(self, destination: str, seconds: float) -> None:
        """A message confirmed by ``destination`` ``seconds`` after it was accepted into the outbox."""
        self.delivery_latency.labels(destination=self.labels.clean("destination", destination)).observe(
            max(seconds, 0.0)
        )

    def count_retry(self, destination: str, kind: object) -> None:
        self.delivery_retries.labels(
            destination=self.labels.clean("destination", destination), kind=self.labels.clean("retry_kind", kind)
        ).inc()

    def count_dead_letter(self, destination: str, code: object) -> None:
        self.dead_letters.labels(
            destination=self.labels.clean("destination", destination),
            code=self.labels.clean("dead_letter_code", code),
        ).inc()

    def set_breaker(self, destination: str, state: object) -> None:
        d = self.labels.clean("destination", destination)
        text = state.value if isinstance(state, BreakerState) else state
        if not isinstance(text, str) or text not in BREAKER_LEVELS:
            self.label_rejections.labels(label="breaker_state").inc()
            return
        if d == OTHER:
            return  # already counted; a gauge for "other" would mix unrelated destinations
        self.breaker_state.labels(destination=d).set(BREAKER_LEVELS[text])

    # --- keys ------------------------------------------------------------------------------------------------------
    def set_key_expiry(self, platform: str, key_id: str, seconds_left: float) -> None:
        """Seconds until the certificate or key ``key_id`` used with ``platform`` expires."""
        self.key_expiry_seconds.labels(
            platform=self.labels.clean("platform", platform), key_id=self.labels.clean("key_id", key_id)
        ).set(seconds_left)

    # --- catalogue sync --------------------------------------------------------------------------------------------
    def count_sync_items(self, platform: str, outcome: str, n: int = 1) -> None:
        """``n`` items ``created``, ``updated``, ``deleted``, ``unchanged`` or ``refused`` by the sync job."""
        self.sync_items.labels(
            platform=self.labels.clean("platform", platform), outcome=self.labels.clean("sync_outcome", outcome)
        ).inc(n)

    def count_sync_batch(self, platform: str) -> None:
        self.sync_batches.labels(platform=self.labels.clean("platform", platform)).inc()

    def set_sync_progress(self, platform: str, ratio: float) -> None:
        self.sync_progress.labels(platform=self.labels.clean("platform", platform)).set(min(max(ratio, 0.0), 1.0))

    def mark_sync_success(self, platform: str, timestamp: float) -> None:
        """The sync of ``platform`` completed at Unix time ``timestamp`` (the caller's clock, not ours)."""
        self.sync_last_success.labels(platform=self.labels.clean("platform", platform)).set(timestamp)

    def set_sync_state(
        self, platform: str, *, ended_at: float, ok: bool, last_success: float, items: dict[str, int]
    ) -> None:
        """The last run from ``platform`` as the store remembers it (``gateway serve`` exports it between runs)."""
        p = self.labels.clean("platform", platform)
        if p == OTHER:
            return  # a gauge for "other" would mix unrelated platforms
        self.sync_last_run.labels(platform=p).set(ended_at)
        self.sync_last_run_ok.labels(platform=p).set(1 if ok else 0)
        self.sync_last_success.labels(platform=p).set(last_success)
        for outcome in SYNC_OUTCOMES:
            self.sync_last_run_items.labels(platform=p, outcome=outcome).set(items.get(outcome, 0))

    # --- evaluations, licences, message log ------------------------------------------------------------------------
    def count_bad_review(self, region: str) -> None:
        self.bad_reviews.labels(region=self.labels.clean("region", region)).inc()

    def observe_licence_query(self, platform: str, outcome: object) -> None:
        """``found``, ``not_found``, ``error`` or the README §10 code the query was refused with."""
        self.licence_queries.labels(
            platform=self.labels.clean("platform", platform), outcome=self.labels.clean("licence_outcome", outcome)
        ).inc()

    def refuse_consent(self, platform: str, reason: str) -> None:
        self.consent_refusals.labels(
            platform=self.labels.clean("platform", platform), reason=self.labels.clean("reason", reason)
        ).inc()

    def set_seal_age(self, seconds: float) -> None:
        self.seal_age.set(seconds)

    # --- exposition ------------------------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (serve it with :data:`CONTENT_TYPE`); under ``--workers``, the
        sum over every worker (module docstring) and which worker answered."""
        if isinstance(self.registry, WorkerRegistry):
            return self.registry.exposition()
        return generate_latest(self.registry)

    def names(self) -> frozenset[str]:
        """Every series name this object can expose (``_total``, ``_bucket``... included): for ops file checks."""
        out: set[str] = set()
        for metric in self.registry.collect():
            if metric.name.startswith("tongban_"):
                out.add(metric.name)
                out.update(sample.name for sample in metric.samples)
                out.update(metric.name + s for s in _SUFFIXES.get(metric.type, ()))
        return frozenset(out)


_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}


# --- several worker processes (serve --workers) -------------------------------------------------------------------
_VALUE_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")  # prometheus_client's <type>[_<mode>]_<pid>.db


def share_across_processes(directory: Path) -> None:
    """Switch this process's metric values to memory-mapped files in ``directory`` (prometheus_client's multiprocess
    mode). Call it in a forked worker before any metric exists: the value class is read when a metric is made, and
    the library reads the directory from ``PROMETHEUS_MULTIPROC_DIR`` (set here, for this process only)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class _WorkersProcessCollector(Collector):
    """``process_*`` summed over the workers writing to ``directory`` (their pids are in the value files' names):
    CPU seconds, memory and open descriptors add up; the start time is the earliest, the descriptor limit the
    lowest. One worker's own figures would flip with whichever worker answered the scrape."""

    _EARLIEST = frozenset({"process_start_time_seconds", "process_max_fds"})

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _pids(self) -> list[int]:
        found = {int(m.group(1)) for f in os.listdir(self.directory) if (m := _VALUE_FILE.match(f))}
        return sorted(pid for pid in found if os.path.exists(f"/proc/{pid}"))

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in self._pids():
            for metric in ProcessCollector(pid=_fixed(pid), registry=None).collect():
                total = merged.setdefault(metric.name, metric)
                if total is metric:
                    continue
                combine = min if metric.name in self._EARLIEST else operator.add
                total.samples = [
                    mine._replace(value=combine(mine.value, theirs.value))
                    for mine, theirs in zip(total.samples, metric.samples, strict=True)
                ]
        yield from merged.values()


def _fixed(pid: int) -> Callable[[], int]:
    return lambda: pid


class WorkerRegistry(CollectorRegistry):
    """The registry of one worker under ``serve --workers``: its metrics write to the shared ``directory``, and its
    exposition is everyone's sum plus ``identity`` (samples of this process alone, e.g. which worker answered)."""

    def __init__(self, directory: Path, identity: CollectorRegistry) -> None:
        super().__init__()
        self.directory = directory
        self.identity = identity

    def exposition(self) -> bytes:
        summed = CollectorRegistry()
        MultiProcessCollector(summed, path=str(self.directory))  # type: ignore[no-untyped-call]
        PlatformCollector(registry=summed)
        summed.register(_WorkersProcessCollector(self.directory))
        return generate_latest(summed) + generate_latest(self.identity)


def _version() -> str:
    try:
        return metadata.version("tongban-gateway")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


METRIC_NAMES: frozenset[str] = GatewayMetrics(CollectorRegistry(), platforms=()).names()
"""Every ``tongban_*`` series name, from a throw-away registry (the ops files are checked against it)."""
