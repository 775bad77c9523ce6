"""Looking Inside's backend: datasets, the chapter's networks, training, evaluation and checkpoints.

Imports only torch, torchvision, numpy and the standard library: never dash or plotly.
"""
from .config import Settings
from .datasets import DATASETS, ImageSet
from .errors import CheckpointError, ConfigError, DataError, LookInsideError, TrainingCancelled
from .evaluate import Evaluation
from .kinds import KINDS
from .config import Normalization, TrainConfig
from .train import Progress
from .zoo import Zoo

__all__ = ["DATASETS", "KINDS", "CheckpointError", "ConfigError", "DataError", "Evaluation", "ImageSet",
           "LookInsideError", "Normalization", "Progress", "Settings", "TrainConfig", "TrainingCancelled", "Zoo"]
