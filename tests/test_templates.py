"""The template-likeness measure of issue 13: centred template vs class-mean correlation, against numpy."""
import numpy as np
import pytest
import torch

from models.templates import class_means, template_correlations


def test_class_means_match_numpy_per_class():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 1, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, size=50)
    got = class_means(torch.from_numpy(images), torch.from_numpy(labels), 3)
    for c in range(3):
        want = images[labels == c].reshape(-1, 12).mean(0) / 255.0
        np.testing.assert_allclose(got[c], want, rtol=1e-12)


def test_correlation_is_pearson_of_the_class_centred_vectors():
    rng = np.random.default_rng(1)
    templates = rng.normal(size=(4, 2, 3, 3))
    means = rng.normal(size=(4, 18))
    got = template_correlations(templates, means)
    t = templates.reshape(4, -1)
    t = t - t.mean(0)
    m = means - means.mean(0)
    want = [np.corrcoef(t[c], m[c])[0, 1] for c in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_what_all_classes_share_does_not_count():
    # Every template carries the same big blob; only the class-specific part follows the class means.
    rng = np.random.default_rng(2)
    means = rng.uniform(size=(3, 16))
    shared = 50 * rng.normal(size=16)
    templates = 2 * means + shared  # a scaled copy of each mean plus something every class shares
    np.testing.assert_allclose(template_correlations(templates, means), 1.0)
    np.testing.assert_allclose(template_correlations(-templates, means), -1.0)
    assert abs(template_correlations(np.tile(shared, (3, 1)), means)).max() < 1e-12  # nothing class-specific


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="differ in shape"):
        template_correlations(np.zeros((3, 4)), np.zeros((3, 5)))
