"""How much a 1-layer net's class templates look like its classes: the chapter's "blurry 0"."""
from __future__ import annotations

import numpy as np
import torch


def class_means(images: torch.Tensor, labels: torch.Tensor, n_classes: int) -> np.ndarray:
    """Each class's mean image on 0..1 pixels, flattened: (classes, C*H*W) float64."""
    flat = images.reshape(len(images), -1)
    sums = torch.zeros(n_classes, flat.shape[1], dtype=torch.float64)
    sums.index_add_(0, labels.long(), flat.double())
    counts = torch.bincount(labels.long(), minlength=n_classes).double().clamp(min=1)
    return (sums / counts[:, None] / 255.0).numpy()


def template_correlations(templates: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Per class, the Pearson correlation between its template and its mean image, both centred.

    Centring subtracts the mean over classes from each (template and mean image alike), so what is
    compared is what sets a class apart from the others, not the ink all classes share. `templates`
    are the weights acting on 0..1 pixels, (classes, ...); `means` the class mean images, same shape.
    """
    t = np.asarray(templates, dtype=np.float64).reshape(len(templates), -1)
    m = np.asarray(means, dtype=np.float64).reshape(len(means), -1)
    if t.shape != m.shape:
        raise ValueError(f"templates {t.shape} and class means {m.shape} differ in shape")
    scale = np.abs(t).max() + np.abs(m).max()
    t = t - t.mean(0)
    m = m - m.mean(0)
    t = t - t.mean(1, keepdims=True)
    m = m - m.mean(1, keepdims=True)
    # What is left after centring may be rounding error only (all classes alike): that is no correlation.
    t[np.abs(t) < 1e-12 * scale] = 0.0
    m[np.abs(m) < 1e-12 * scale] = 0.0
    denom = np.sqrt((t * t).sum(1) * (m * m).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (t * m).sum(1) / np.where(denom > 0, denom, 1.0), 0.0)


def linear_templates(model, norm) -> np.ndarray:
    """A 1-layer net's templates as weights on 0..1 pixels, (classes, C, H, W) float64."""
    from .explain import folded_first_layer
    weights, _ = folded_first_layer(model.fc.weight, model.fc.bias, model.in_shape, norm)
    return weights


def correlations(model, norm, train_images: torch.Tensor, train_labels: torch.Tensor) -> np.ndarray:
    """`template_correlations` of a 1-layer net against the training set's class means."""
    templates = linear_templates(model, norm)
    return template_correlations(templates, class_means(train_images, train_labels, len(templates)))


def correlation(model, norm, train_images: torch.Tensor, train_labels: torch.Tensor) -> float:
    """The mean over classes of `correlations`: the number the README and the benchmark report."""
    return float(correlations(model, norm, train_images, train_labels).mean())
