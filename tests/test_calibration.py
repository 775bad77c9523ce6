"""models/calibration.py and its card: the ECE matches an independent recomputation from the evaluation's
probabilities, the temperature is the NLL's minimum on the training split's slice, and it never changes an
answer."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models import calibration, cli
from tests.conftest import quick_service


def independent_ece(probs, labels, n=15):
    """ECE written out from its definition, in plain Python, sharing nothing with the module."""
    total, error = len(labels), 0.0
    for b in range(n):
        lo, hi = b / n, (b + 1) / n
        rows = [i for i in range(total) if lo < max(probs[i]) <= hi or (b == 0 and max(probs[i]) == 0)]
        if rows:
            accuracy = sum(int(np.argmax(probs[i]) == labels[i]) for i in rows) / len(rows)
            confidence = sum(max(probs[i]) for i in rows) / len(rows)
            error += len(rows) / total * abs(accuracy - confidence)
    return error


def test_ece_matches_its_definition_and_bins_count_every_image():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3, size=(500, 10))
    probs = calibration.softmax(logits)
    labels = rng.integers(0, 10, 500)
    assert calibration.ece(probs, labels) == pytest.approx(independent_ece(probs.tolist(), labels.tolist()), abs=1e-12)
    assert sum(b.count for b in calibration.bins(probs, labels)) == 500
    perfect = np.eye(10)[labels]  # sure and right every time
    assert calibration.ece(perfect, labels) == pytest.approx(0.0)


def test_the_temperature_minimises_the_nll_and_changes_no_answer():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2, size=(4000, 10))
    p = calibration.softmax(logits)
    labels = np.array([rng.choice(10, p=row) for row in p])  # drawn from softmax(logits): calibrated at T = 1
    sharp = 4.0 * logits  # overconfident by a factor of four: T should come out near 4
    t = calibration.fit_temperature(sharp, labels)

    def nll(temp):
        p = calibration.softmax(sharp, temp)
        return -np.log(p[np.arange(4000), labels]).mean()
    assert nll(t) <= min(nll(t * 0.97), nll(t * 1.03)) and 3.0 < t < 5.0
    assert (calibration.softmax(sharp, t).argmax(1) == sharp.argmax(1)).all()
    report = calibration.report(sharp, labels, t)
    assert report["ece_scaled"] < report["ece"]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with quick_service(tmp_path_factory.mktemp("calibration"), (("mnist", "mlp"),)) as service:
        yield service


def test_the_card_draws_the_evaluations_own_calibration(service):
    from app.main import create_app
    from app.state import screen
    app = create_app(service.settings, queue=service.queue)
    cb, service = app.lookinside_callbacks, app.lookinside_service
    store = screen(cb["resolve"]("mnist", "mlp")["resolved"], None, "mnist", "mlp", None)
    figure, note, listing = cb["calibration"](store, [], None)
    ev = service.shown(store).evaluation
    want = independent_ece(ev.probs.astype(np.float64).tolist(), ev.labels.tolist())
    assert f"{100 * want:.2f}% as trained" in note
    bars = figure["data"][0]
    assert sum(c[2] for c in bars["customdata"]) == ev.n  # every test image in a bar
    scaled_figure, scaled_note, _ = cb["calibration"](store, ["scaled"], None)
    assert "with T = " in scaled_note and "temperature-scaled, T = " in scaled_figure["layout"]["title"]["text"]
    click = {"points": [{"customdata": bars["customdata"][-1]}]}
    from tests.test_app_callbacks import triggered, text_of
    _, _, listing = triggered(cb["calibration"], "calibration-graph.clickData", click, store, [], click)
    assert "test images given" in text_of(listing)
    assert triggered(cb["calibration"], "calibration-graph.clickData", {"x": 1}, store, [], {"x": 1})[2] is not None


def test_the_command_line_prints_the_report_as_json(service, capsys, monkeypatch):
    monkeypatch.setattr("models.zoo.default_config", lambda *a, **k: pytest.fail("nothing is trained here"))
    code = cli.main(["calibration", "--dataset", "mnist", "--arch", "mlp", "--offline", "--data-dir",
                     str(service.settings.data_dir), "--model-dir", str(service.settings.model_dir), "--json"])
    assert code == 0
    found = json.loads(capsys.readouterr().out)
    assert set(found) == {"ece", "bins", "temperature", "ece_scaled"} and len(found["bins"]) == 15
    assert found["temperature"] > 0 and sum(b["count"] for b in found["bins"]) == 100
    assert cli.main(["calibration", "--dataset", "mnist", "--arch", "mlp", "--offline", "--bins", "0", "--data-dir",
                     str(service.settings.data_dir), "--model-dir", str(service.settings.model_dir)]) == 2
