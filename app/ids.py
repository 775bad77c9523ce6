"""Every component id of the page, defined once (scheme: area-feature)."""

DATASET = "dataset-dropdown"
ARCH = "model-dropdown"
ACCURACY = "accuracy"
STATUS = "model-status"

CONFUSION = "confusion-graph"
CONFUSION_MODE = "confusion-mode"  # counts or row-normalized percentages
CONFUSION_VIEW = "confusion-view"  # numbers or the top image of each cell

SAMPLES = "cell-samples"
SAMPLES_MORE = "samples-more"
SAMPLE_PROBS = "sample-probs"
SAMPLE_PROBS_BOX = "sample-probs-box"  # shown once an image is selected
SAMPLE_TILE = "sample-tile"  # pattern-matching type: {"type": SAMPLE_TILE, "index": test-set index}

WEIGHTS = "weights-panel"
WEIGHTS_COLORMAP = "weights-colormap"
WEIGHTS_BARS = "weights-bars"

TRAIN_BOX = "train-box"
TRAIN_PROGRESS = "train-progress"
TRAIN_LABEL = "train-label"

# Browser-side state (small JSON): no per-user state lives in the server process.
STATE_RESOLVED = "state-resolved"  # what the server found for the chosen pair: ready, untrained or error
STATE_TRAINED = "state-trained"  # written by the background training job when it finishes
STATE_TRAIN_REQUEST = "state-train-request"
STATE_CELL = "state-cell"  # the selected cell: {"actual": i, "predicted": j}
STATE_SHOWN = "state-shown"  # how many of the cell's images are shown
STATE_SAMPLE = "state-sample"  # the selected test-set index
