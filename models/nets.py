"""The chapter's three networks as torch modules (models.kinds describes each kind to the rest)."""
from __future__ import annotations

import math

import torch
from torch import nn

INITS = ("random", "zeros")
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


class LinearNet(nn.Module):
    """Inputs wired straight to the classes: each class score is b + sum(w * x)."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10, init: str = "random"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}: choose one of {', '.join(INITS)}")
        self.in_shape = tuple(in_shape)
        self.fc = nn.Linear(math.prod(in_shape), n_classes)
        if init == "zeros":  # templates then start blank, and a pixel that is never ink stays blank
            nn.init.zeros_(self.fc.weight)
            nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))

    def templates(self) -> torch.Tensor:
        """One weight image per class, (classes, C, H, W): what each class 'looks for'."""
        return self.fc.weight.detach().reshape(-1, *self.in_shape)



class MLP(nn.Module):
    """One hidden layer (the chapter's 2-layer net): input -> hidden units -> classes."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10, hidden: int = 10,
                 activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}")
        self.in_shape = tuple(in_shape)
        self.hidden = nn.Linear(math.prod(in_shape), hidden)
        self.act = ACTIVATIONS[activation]()
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(x.flatten(1))))

    def hidden_filters(self) -> torch.Tensor:
        """The input weights of each hidden unit as an image, (hidden, C, H, W)."""
        return self.hidden.weight.detach().reshape(-1, *self.in_shape)

    def output_weights(self) -> torch.Tensor:
        """How much each hidden unit pushes each class, (classes, hidden)."""
        return self.out.weight.detach()



def _conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CNN(nn.Module):
    """A small convnet: a wide-kernel first layer (so its filters are readable), then pooled 3x3 blocks."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10,
                 widths: tuple[int, ...] = (32, 64, 128), first_kernel: int = 5):
        super().__init__()
        self.in_shape = tuple(in_shape)
        layers = [_conv_block(in_shape[0], widths[0], first_kernel)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [_conv_block(c_in, c_out, 3), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(torch.amax(x, dim=(2, 3)))

    def first_layer_filters(self) -> torch.Tensor:
        """The first convolution's kernels, (filters, C, k, k)."""
        return self.features[0][0].weight.detach()


