"""The overview's arithmetic without a server: rates over the last 5 minutes, "today" from the day's first reading,
per-minute charts, days left per key, and the red thresholds equal to ops/prometheus/alerts.yml's rules."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.console.chart import chart_svg
from gateway.console.history import STEP, History
from gateway.console.overview import BREAKER_ALERT, CERT_DAYS_ALERT, OLDEST_AGE_ALERT, key_days, overview_rows
from gateway.model.timefmt import BEIJING
from gateway.store.api import DestinationStats

REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, at: float) -> None:
        self.now = at

    def __call__(self) -> float:
        return self.now


def _registry() -> tuple[CollectorRegistry, Counter, Counter]:
    registry = CollectorRegistry()
    requests = Counter("tongban_requests", "r", ["platform", "operation", "outcome"], registry=registry)
    attempts = Counter("tongban_delivery_attempts", "a", ["destination", "outcome"], registry=registry)
    return registry, requests, attempts


def test_rates_count_the_last_five_minutes_per_minute() -> None:
    registry, requests, attempts = _registry()
    clock = Clock(datetime(2026, 12, 1, 10, 0, tzinfo=BEIJING).timestamp())
    history = History(registry, clock)
    assert history.rate("inbound", "hefei", history.sample()) is None  # nothing to compare with yet
    for _ in range(60):  # ten minutes: 6 accepted requests a minute from hefei, 3 deliveries to g60
        clock.now += STEP
        requests.labels("hefei", "case", "accepted").inc()
        attempts.labels("g60", "delivered").inc(0.5)
        history.sample()
    now = history.sample()
    assert history.rate("inbound", "hefei", now) == 6.0 and history.rate("outbound", "g60", now) == 3.0
    assert history.rate("inbound", "g60", now) == 0.0
    chart = history.per_minute("inbound", "hefei", now)
    assert len(chart) == 60 and chart[-10:] == [6.0] * 10 and chart[:49] == [0.0] * 49  # no history before


def test_today_counts_from_the_first_reading_of_the_day_in_beijing_time() -> None:
    registry, requests, _ = _registry()
    clock = Clock(datetime(2026, 12, 1, 23, 59, 40, tzinfo=BEIJING).timestamp())
    history = History(registry, clock)
    requests.labels("hefei", "case", "accepted").inc(5)
    first = history.sample()
    assert history.today("accepted", "hefei", first) == 5  # the process's first day: the counter itself
    clock.now += 30  # 00:00:10 Beijing on 2 December (16:00:10 UTC the day before: not UTC's midnight)
    requests.labels("hefei", "case", "accepted").inc(2)
    assert history.today("accepted", "hefei", history.sample()) == 0  # the day starts from this reading
    clock.now += STEP
    requests.labels("hefei", "case", "refused_x").inc()
    requests.labels("hefei", "case", "accepted").inc(3)
    now = history.sample()
    assert history.today("accepted", "hefei", now) == 3 and history.today("inbound", "hefei", now) == 4


def test_days_left_per_key_and_the_red_cells() -> None:
    registry, _, _ = _registry()
    expiry = Gauge("tongban_key_expiry_seconds", "e", ["platform", "key_id"], registry=registry)
    breaker = Gauge("tongban_breaker_state", "b", ["destination"], registry=registry)
    expiry.labels("ningbo", "nb-sign-2026").set(12 * 86400)
    expiry.labels("ningbo", "nb-tls").set(200 * 86400)
    expiry.labels("hefei", "hf-1").set(31 * 86400)
    breaker.labels("ningbo").set(1)
    assert [(k.key_id, k.days, k.red) for k in key_days(registry)["ningbo"]] == [
        ("nb-sign-2026", 12.0, True), ("nb-tls", 200.0, False)
    ]  # fmt: skip
    history = History(registry, Clock(1_800_000_000.0))
    stats = {"ningbo": DestinationStats("ningbo", 1, 0, 2, 901.0), "hefei": DestinationStats("hefei", 0, 0, 0, None)}
    rows = {r.platform: r for r in overview_rows(["ningbo", "hefei"], registry, stats, history, history.sample(), "t")}
    assert rows["ningbo"].red == {"cert_days", "breaker", "oldest_pending", "dead"} and rows["ningbo"].cert_days == 12
    assert rows["hefei"].red == frozenset() and rows["hefei"].breaker == "closed"


def test_the_red_thresholds_are_the_alert_rules() -> None:
    rules = yaml.safe_load((REPO / "ops" / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    exprs = {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}
    assert re.search(r"tongban_outbox_oldest_age_seconds\) > (\d+)$", exprs["TongbanOutboxOldestAgeHigh"].strip())[
        1
    ] == str(int(OLDEST_AGE_ALERT))  # type: ignore[index]
    assert exprs["TongbanCertificateExpiringSoon"].strip().endswith(f"< {int(CERT_DAYS_ALERT)} * 86400")
    assert exprs["TongbanBreakerOpenLong"].strip().endswith(f">= {int(BREAKER_ALERT)}")
    assert "> 0" in exprs["TongbanDeadLettersRising"]


def test_the_chart_escapes_what_it_is_given_and_draws_no_style() -> None:
    svg = str(chart_svg('a"<b', [0.0, 2.0, 4.0], [1.0, 1.0, 1.0], "x<y"))
    assert 'data-platform="a&#34;&lt;b"' in svg and "<title>x&lt;y (max 4/min)</title>" in svg
    assert "style" not in svg and "<script" not in svg
    assert 'points="2.0,46.0 120.0,24.0 238.0,2.0"' in svg  # 0, half, top of the 48-pixel box (2-pixel margins)
