"""GatewayMetrics: bounded labels, a scrape promtool accepts, one registry per test."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from gateway.delivery.breaker import BreakerState
from gateway.delivery.outcomes import TransientKind
from gateway.errors import RejectionCode
from gateway.observability.metrics import METRIC_NAMES, GatewayMetrics

PLATFORMS = ("hefei", "huainan", "g60", "ningbo")


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics(CollectorRegistry(), platforms=PLATFORMS, key_ids=("hefei-sm2-2025",))


def _samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _exercise(m: GatewayMetrics) -> None:
    m.observe_request("hefei", "case", "accepted", 0.004)
    m.observe_request("hefei", "case", RejectionCode.ID_CHECKSUM, 0.012)
    m.observe_request("g60", "licence_query", "error", 0.2)
    m.refuse_translation("zlb", RejectionCode.UNKNOWN_CODE)
    m.refuse_auth("ningbo", RejectionCode.SIGNATURE_INVALID)
    m.set_outbox("g60", 12, 340.5)
    m.observe_delivery("g60", TransientKind.TIMEOUT)
    m.observe_delivery("g60", "delivered")
    m.count_retry("g60", TransientKind.THROTTLED)
    m.count_dead_letter("g60", "DELIVERY_EXPIRED")
    m.set_breaker("g60", BreakerState.HALF_OPEN)
    m.set_key_expiry("hefei", "hefei-sm2-2025", 86400 * 29)
    m.count_sync_items("hefei", "created", 40)
    m.count_sync_batch("hefei")
    m.set_sync_progress("hefei", 0.25)
    m.mark_sync_success("hefei", 1_750_000_000)
    m.count_bad_review("340100")
    m.observe_licence_query("g60", "found")
    m.refuse_consent("g60", "jti_reused")
    m.set_seal_age(42)


def test_every_method_lands_on_its_series(metrics: GatewayMetrics) -> None:
    _exercise(metrics)
    s = _samples(metrics)
    assert s[("tongban_requests_total", (("operation", "case"), ("outcome", "ID_CHECKSUM"), ("platform", "hefei")))]
    assert s[("tongban_request_duration_seconds_count", (("operation", "case"), ("platform", "hefei")))] == 2
    assert s[("tongban_outbox_oldest_age_seconds", (("destination", "g60"),))] == 340.5
    assert s[("tongban_outbox_depth", (("destination", "hefei"),))] == 0  # every destination starts at 0
    assert s[("tongban_breaker_state", (("destination", "g60"),))] == 1
    assert s[("tongban_delivery_attempts_total", (("destination", "g60"), ("outcome", "timeout")))] == 1
    assert s[("tongban_key_expiry_seconds", (("key_id", "hefei-sm2-2025"), ("platform", "hefei")))] == 86400 * 29
    assert s[("tongban_sync_items_total", (("outcome", "created"), ("platform", "hefei")))] == 40
    assert s[("tongban_bad_reviews_total", (("region", "340100"),))] == 1
    assert s[("tongban_message_log_seal_age_seconds", ())] == 42
    rejections = {labels: v for (name, labels), v in s.items() if name == "tongban_metric_label_rejections_total"}
    assert rejections and not any(rejections.values())  # every label name's series exists, at 0


def test_values_outside_the_allow_lists_become_other(metrics: GatewayMetrics) -> None:
    metrics.observe_request("340121199904278686", "case", "赵娜", 0.01)
    metrics.observe_request("hefei", "3205002405030562129", "accepted", 0.01)
    metrics.count_dead_letter("g60", "refused because 13996120484 is wrong")
    metrics.count_bad_review("999999")
    metrics.set_outbox("not-configured", 5, 10.0)
    metrics.set_breaker("g60", "melted")
    # label values only: sample values (timestamps, process figures) may hold any digits
    values = {v for (_, labels) in _samples(metrics) for _, v in labels}
    for leaked in ("340121199904278686", "赵娜", "3205002405030562129", "13996120484", "999999", "not-configured"):
        assert not any(leaked in v for v in values)
    s = _samples(metrics)
    assert s[("tongban_requests_total", (("operation", "case"), ("outcome", "other"), ("platform", "other")))] == 1
    assert s[("tongban_dead_letters_total", (("code", "other"), ("destination", "g60")))] == 1
    assert s[("tongban_bad_reviews_total", (("region", "other"),))] == 1
    assert s[("tongban_metric_label_rejections_total", (("label", "platform"),))] == 1
    assert s[("tongban_metric_label_rejections_total", (("label", "breaker_state"),))] == 1
    assert ("tongban_outbox_depth", (("destination", "other"),)) not in s


def test_each_registry_is_its_own(metrics: GatewayMetrics) -> None:
    other = GatewayMetrics(CollectorRegistry(), platforms=PLATFORMS)
    metrics.count_bad_review("340100")
    assert 'tongban_bad_reviews_total{region="340100"} 0.0' in other.exposition().decode()
    assert 'tongban_bad_reviews_total{region="340100"} 1.0' in metrics.exposition().decode()


def test_every_exposed_name_is_known(metrics: GatewayMetrics) -> None:
    _exercise(metrics)
    names = {s.name for f in text_string_to_metric_families(metrics.exposition().decode()) for s in f.samples}
    ours = {name for name in names if name.startswith("tongban_")}
    assert ours <= METRIC_NAMES
    assert names - ours <= {"python_info"} | {n for n in names if n.startswith("process_")}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "tongban_build_info"} <= names


def test_scrape_passes_promtool_check_metrics(metrics: GatewayMetrics) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:  # a skipped check is a failed one
        pytest.fail("promtool is not installed: apt-get install prometheus (CI installs it in .ci/run)")
    _exercise(metrics)
    done = subprocess.run(
        [promtool, "check", "metrics"], input=metrics.exposition(), capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_every_labelled_counter_starts_at_zero_for_its_known_label_sets(metrics: GatewayMetrics) -> None:
    """A series that appears at its first increment hides that increment from increase(); so they all start at 0."""
    s = _samples(metrics)
    assert s[("tongban_dead_letters_total", (("code", "DELIVERY_EXPIRED"), ("destination", "g60")))] == 0
    assert s[("tongban_delivery_attempts_total", (("destination", "ningbo"), ("outcome", "dead")))] == 0
    assert s[("tongban_auth_refusals_total", (("code", "REPLAYED"), ("platform", "hefei")))] == 0
    refusals = "tongban_refusals_total"
    assert s[(refusals, (("code", "ID_CHECKSUM"), ("platform", "huainan"), ("stage", "field_rules")))] == 0
    assert s[(refusals, (("code", "RATE_LIMITED"), ("platform", "g60"), ("stage", "transport")))] == 0
    assert (
        s[("tongban_requests_total", (("operation", "unverified"), ("outcome", "AUTH_FAILED"), ("platform", "g60")))]
        == 0
    )
    assert s[("tongban_licence_queries_total", (("outcome", "found"), ("platform", "g60")))] == 0
    assert s[("tongban_bad_reviews_total", (("region", "340100"),))] == 0
    assert s[("tongban_metric_label_rejections_total", (("label", "delivery_outcome"),))] == 0
    counters = [f for f in text_string_to_metric_families(metrics.exposition().decode()) if f.type == "counter"]
    assert all(f.samples for f in counters if f.name.startswith("tongban_") and f.name != "tongban_sync_batches")


def test_dead_letters_and_answered_licence_queries_are_allowed_label_values(metrics: GatewayMetrics) -> None:
    metrics.observe_delivery("g60", "dead")
    metrics.count_dead_letter("g60", "UNKNOWN_DESTINATION")
    metrics.observe_licence_query("g60", "found")
    metrics.count_refusal("hefei", "XML_DTD_FORBIDDEN")
    metrics.observe_delivery_latency("g60", 0.3)
    s = _samples(metrics)
    assert not any(v for (name, _), v in s.items() if name == "tongban_metric_label_rejections_total")
    assert s[("tongban_delivery_attempts_total", (("destination", "g60"), ("outcome", "dead")))] == 1
    dtd = (("code", "XML_DTD_FORBIDDEN"), ("platform", "hefei"), ("stage", "decode"))
    assert s[("tongban_refusals_total", dtd)] == 1
    assert s[("tongban_delivery_latency_seconds_bucket", (("destination", "g60"), ("le", "0.5")))] == 1


def test_sync_state_is_exported_per_source_platform(metrics: GatewayMetrics) -> None:
    metrics.set_sync_state(
        "hefei", ended_at=1_750_000_100, ok=False, last_success=1_749_000_000, items={"created": 3, "refused": 1}
    )
    s = _samples(metrics)
    assert s[("tongban_sync_last_success_timestamp_seconds", (("platform", "hefei"),))] == 1_749_000_000
    assert s[("tongban_sync_last_run_timestamp_seconds", (("platform", "hefei"),))] == 1_750_000_100
    assert s[("tongban_sync_last_run_success", (("platform", "hefei"),))] == 0
    assert s[("tongban_sync_last_run_items", (("outcome", "refused"), ("platform", "hefei")))] == 1
