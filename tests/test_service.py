"""app/service.py: a view is a read; evaluating a snapshot is one explicit, locked step; estimates and menus
come from the kinds' and datasets' descriptors."""
from __future__ import annotations

import threading

import pytest

from app.service import compare_value, parse_compare_value
from models import datasets, kinds
from models.errors import CheckpointError
from tests.conftest import quick_service


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with quick_service(tmp_path_factory.mktemp("service"), (("mnist", "mlp"),)) as service:
        yield service


class Counting:
    """A limits stand-in that records what was counted."""

    def __init__(self):
        self.counted = []

    def check(self, name):
        self.counted.append(name)

    def check_once(self, name, key):
        self.counted.append((name, key))


def test_a_view_reads_and_a_snapshot_is_evaluated_once_in_one_step(service, monkeypatch):
    service.limits = counting = Counting()
    try:
        final = service.view("mnist", "mlp")
        assert not final.checkpoint.is_snapshot and counting.counted == []
        with pytest.raises(CheckpointError):  # a read computes nothing: the snapshot is not evaluated yet
            service.view("mnist", "mlp", 0)
        assert counting.counted == []
        calls = []
        evaluate = service.zoo.evaluate
        monkeypatch.setattr(service.zoo, "evaluate", lambda ckpt: calls.append(ckpt.id) or evaluate(ckpt))
        threads = [threading.Thread(target=service.snapshot, args=("mnist", "mlp", 0)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(calls) == 1  # four requests together, one evaluation
        assert [c for c in counting.counted if c[0] == "snapshot"] == [("snapshot", f"mnist/mlp/{calls[0]}")]
        at0 = service.view("mnist", "mlp", 0)  # a read now
        assert at0.checkpoint.is_snapshot and at0.checkpoint.step is not None and at0.evaluation.n == final.evaluation.n
    finally:
        service.limits = None


def test_a_snapshot_is_served_from_a_folder_that_cannot_be_written(service, monkeypatch):
    monkeypatch.setattr(type(service.zoo), "cached_evaluation", lambda self, ckpt: None)  # as if never saved
    with pytest.raises(CheckpointError):
        service.view("mnist", "mlp", 1)
    assert service.snapshot("mnist", "mlp", 1).checkpoint.is_snapshot  # kept here, then read
    assert service.view("mnist", "mlp", 1).evaluation is not None


def test_the_training_estimate_comes_from_the_descriptors(service):
    seconds = service.zoo.load("mnist", "mlp").metrics.get("train_seconds")
    assert service.train_estimate("mnist", "mlp") == pytest.approx(seconds)  # measured here
    kind, spec = kinds.get("mlp"), datasets.get_spec("mnist")
    built = "mlp-32-relu"
    weights = 784 * 32 + 32 + 32 * 10 + 10
    config = service.zoo.default_config("mnist", built)
    assert service.train_estimate("mnist", built) == pytest.approx(
        6.0 + kind.train_rate * weights * spec.train_size * config.epochs)
    assert service.train_estimate("mnist", "cnn") is None  # a convnet's cost is not in its weight count


def test_comparison_values_round_trip_and_forgeries_are_nothing():
    assert parse_compare_value(compare_value("mlp", 3)) == ("mlp", 3)
    assert parse_compare_value(compare_value("mlp")) == ("mlp", None)
    for forged in ("mlp:x", "mlp:-1", "mlp:1234567", None, 3, "m" * 41):
        assert parse_compare_value(forged) is None


def test_datasets_are_offered_by_their_descriptors(service):
    options = {o["value"]: o for o in service.dataset_options()}
    assert list(options) == [name for name in datasets.DATASETS if name in options]
    assert options["mnist"].get("disabled") is not True
    assert service.has_data("mnist") and not service.has_data("../mnist") and not service.has_data(None)
