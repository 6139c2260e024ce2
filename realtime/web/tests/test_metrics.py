"""The memoised metric children of realtime.web.metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from realtime.web import metrics


def a_counter() -> tuple[Counter, CollectorRegistry]:
    """A counter of its own registry: the process's metrics stay untouched."""
    registry = CollectorRegistry()
    counter = Counter("t_events", "Events.", ["route", "outcome"], registry=registry)
    return counter, registry


def test_child_is_the_labelled_child_and_labels_runs_once_per_label_set(monkeypatch):
    counter, _ = a_counter()
    calls: list[tuple[object, ...]] = []
    real = counter.labels

    def counting(*values: object) -> Counter:
        calls.append(values)
        return real(*values)

    monkeypatch.setattr(counter, "labels", counting)
    first = metrics.child(counter, "chat", "accepted")
    again = metrics.child(counter, "chat", "accepted")
    other = metrics.child(counter, "chat", "refused_auth")
    assert first is again is real(route="chat", outcome="accepted")
    assert other is real(route="chat", outcome="refused_auth")
    assert calls == [("chat", "accepted"), ("chat", "refused_auth")]


def test_counting_through_child_exposes_what_labels_would():
    through_child, child_registry = a_counter()
    through_labels, labels_registry = a_counter()
    for _ in range(3):
        metrics.child(through_child, "chat", "accepted").inc()
        through_labels.labels(route="chat", outcome="accepted").inc()
    assert exposed(child_registry) == exposed(labels_registry)


def exposed(registry: CollectorRegistry) -> list[str]:
    """The registry's /metrics lines, but the creation times (each counter's own)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_the_cache_stays_bounded_whatever_label_values_come(monkeypatch):
    monkeypatch.setattr(metrics, "_children", {})
    monkeypatch.setattr(metrics, "MAX_CHILDREN", 10)
    counter, _ = a_counter()
    for i in range(100):
        metrics.child(counter, "chat", f"value-{i}").inc()
    assert len(metrics._children) == 10
    # Past the bound a child is still counted, just not kept.
    assert metrics.child(counter, "chat", "value-99")._value.get() == 1
