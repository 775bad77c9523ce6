"""Looking Inside's backend: datasets, the chapter's networks, training, evaluation and checkpoints.

Imports only torch, torchvision, numpy and the standard library: never dash or plotly.
"""
from .config import Settings
from .datasets import DATASETS, ImageSet
from .errors import CheckpointError, ConfigError, DataError, LookInsideError, TrainingCancelled
from .evaluate import Evaluation
from .nets import ARCHS
from .train import Normalization, Progress, TrainConfig
from .zoo import Zoo

__all__ = ["ARCHS", "DATASETS", "CheckpointError", "ConfigError", "DataError", "Evaluation", "ImageSet",
           "LookInsideError", "Normalization", "Progress", "Settings", "TrainConfig", "TrainingCancelled", "Zoo"]
