"""Every component id of the page, defined once (scheme: area-feature)."""

DATASET = "dataset-dropdown"
ARCH = "model-dropdown"
ACCURACY = "accuracy"
STATUS = "model-status"
TRAIN_IT = "train-it"  # shown beside the status of a network not trained here: only a press queues it

CONFUSION = "confusion-graph"
CONFUSION_KEYS = "confusion-keys"  # the focusable box around the heatmap, for keyboard use
CONFUSION_MODE = "confusion-mode"  # counts or row-normalized percentages
CONFUSION_VIEW = "confusion-view"  # numbers or the top image of each cell
CONFUSION_TIP = "confusion-tip"  # the hovered cell's counts and top images (assets/hover.js)
CONFUSION_CSV = "confusion-csv"  # download buttons
CONFUSION_PNG = "confusion-png"
CONFUSION_SVG = "confusion-svg"
CONFUSION_DOWNLOAD = "confusion-download"
CONFUSION_IMAGE_SINK = "confusion-image-sink"  # the browser-side image export's dummy output
CONFUSION_DRAWN = "confusion-drawn"  # what the heatmap on the page was drawn for (the layout draws the first)

SAMPLES = "cell-samples"
SAMPLES_MORE = "samples-more"
SAMPLES_SORT = "samples-sort"  # predicted-class probability, true-class probability or margin
SAMPLES_CSV = "samples-csv"
SAMPLES_DOWNLOAD = "samples-download"
CELL_SUMMARY = "cell-summary"  # the cell's mean image beside the two classes' templates or means
SAMPLES_HEAD = "cell-samples-head"  # the list's heading and order (or a hint), drawn by the server
SAMPLE_TILES = "sample-tiles"  # the list's image tiles, drawn in the browser from TILES (assets/samples.js)
TILES = "state-tiles"  # those tiles as data: [[test-set index, image, value shown, title], ...]

EXPLAIN_CARD = "explain-card"  # shown once an image is selected
EXPLAIN = "explain-panel"
EXPLAIN_ASK = "explain-ask"  # the image to explain and the view store, once there is an image
EXPLAIN_PROBS = "explain-probs"
EXPLAIN_HIDDEN = "explain-hidden"  # the 2-layer net's hidden activations
EXPLAIN_UNITS = "explain-units"  # each hidden unit's share of the predicted and compared logits

OWN_BOX = "own-draw-box"  # the drawing area, shown for the 28x28 grey datasets
OWN_CANVAS = "draw-canvas"  # assets/draw.js draws here and sends the pixels to OWN_PIXELS
OWN_CLEAR = "draw-clear"
EXPLAIN_SHOWN = "state-explain-shown"  # the image whose explanation was last scrolled into view
OWN_INTRO = "own-intro"  # what to draw or upload, for the dataset on screen
OWN_PIXELS = "draw-pixels"
OWN_UPLOAD = "own-upload"
OWN_UPLOADED = "state-upload"  # the upload after the browser-side size check: {"contents", "name"} or {"error"}
OWN_SOURCE = "state-own-source"  # which input was used last: "draw" or "upload"
OWN_RESULT = "own-result"
OWN_MESSAGE = "own-message"
OWN_PROBS = "own-probs"
OWN_HIDDEN = "own-hidden"
OWN_OPENED = "own-opened"  # written by nothing: the output of a bar click that opens a unit (in the browser)
EXPLAIN_OPENED = "explain-opened"  # the same for the explanation card
OWN_UNITS = "own-units"

COMPARE_A = "compare-a"  # values: "arch" (a finished network) or "arch@position" (a timeline snapshot)
COMPARE_B = "compare-b"
COMPARE_GRAPH = "compare-graph"
COMPARE_LIST = "compare-list"
COMPARE_NOTE = "compare-note"
STATE_COMPARE_CELL = "state-compare-cell"

SUSPECTS_BUTTON = "suspects-button"  # the list is computed only when asked for
SUSPECTS = "suspects-list"
SUSPECT_TILE = "suspect-tile"  # pattern-matching type: {"type": SUSPECT_TILE, "index": test-set index}

WEIGHTS = "weights-panel"  # drawn in the browser (assets/weights.js), from WEIGHTS_DATA
WEIGHTS_DATA = "state-weights"  # the weights card's tiles and charts, as app/panels/weights.py _panel lists them
WEIGHTS_COLORMAP = "weights-colormap"
WEIGHTS_MARKS = "weights-marks"  # the browser-side marking's dummy output (assets/weights.js)
WEIGHTS_PAGE = "weights-page"  # which hundred of the first layer's filters are drawn
WEIGHTS_PAGER = "weights-pager"

TIMELINE_BOX = "timeline-box"
TIMELINE = "timeline-slider"  # a position in the training timeline; the last is the final checkpoint
TIMELINE_NOTE = "timeline-note"
TIMELINE_PLAY = "timeline-play"
TIMELINE_TICK = "timeline-tick"  # the interval that advances the slider while playing
WATCH = "watch-button"  # retrain the pair from scratch and watch it learn

TRAIN_BOX = "train-box"  # the job's progress, live frame, or the sentence that refused or ended it
TRAIN_POLL = "train-poll"  # the interval that reads the job's progress while one is active
TRAIN_STOP = "train-stop"  # the visitor who started a job (or the admin) can stop it
TRAIN_PROGRESS = "train-progress"
TRAIN_LABEL = "train-label"
LIVE_HEATMAP = "live-heatmap"  # the confusion matrix at each snapshot while a network trains
LIVE_HEATMAP_BOX = "live-heatmap-box"  # holds that graph once a job is watched
LIVE_WEIGHTS = "live-weights"

VIEW_BODY = "view-body"  # where the view on screen is mounted (app/views.py)
VIEW_PATH = "state-view-path"  # the path of the view mounted now
STATE_SNAPSHOT = "state-snapshot"  # the timeline position the server has evaluated: the view store follows it
STATE_SNAPSHOT_ASK = "state-snapshot-ask"  # a position before the end, for the server to evaluate
SNAPSHOT_ANSWER = "state-snapshot-answer"  # the server's evaluated position, taken into STATE_SNAPSHOT by the page
URL = "url"  # the address bar: dataset, model, view options, cell, sample and timeline position
URL_SINK = "url-sink"  # the browser-side address writer's dummy output
# The address when it changes from outside the page (back/forward, a view's tab), as {"path", "search"}: the
# server's readers of the address listen to this, not to the location, which also fires when the page opens
# (its layout is already built from the address then, so that a first visit asks the server nothing more).
URL_CHANGED = "state-address"
URL_BUILT = "state-address-built"  # the path and query the layout was built from

# Browser-side state (small JSON): no per-user state lives in the server process.
STATE_RESOLVED = "state-resolved"  # what the server found for the chosen pair: ready, untrained or error
STATE_ANSWER = "state-resolve-answer"  # resolve's answer ({"resolved", "job", "options", "datasets"}) for view.js
STATE_KNOWN = "state-known"  # the served network's state on the other datasets, when ready (app/service.py)
STATE_TRAINED = "state-trained"  # the page state of the network a finished job made
STATE_VIEW = "state-view"  # the network on screen: dataset, network, checkpoint, timeline position, status
CLASSES = "state-classes"  # every dataset's class names, for the browser's cell selection (static)
RESOLVE_KICK = "state-resolve-kick"  # asks the server how the network stands, when the page opened on one not ready
STATE_JOB = "state-job"  # the training job this page watches: {"id", "dataset", "network", "mode"} or {"error"}
STATE_FRAME_SEEN = "state-frame-seen"  # the live frame last drawn, so a poll sends a frame only once

ADMIN_INPUT = "admin-input"  # the admin token, asked for once and kept in the browser's session
ADMIN_TOKEN = "state-admin-token"
ADMIN_NOTE = "admin-note"
STATE_CELL = "state-cell"  # the selected cell: {"actual": i, "predicted": j}
STATE_SHOWN = "state-shown"  # how many of the cell's images are shown
STATE_SAMPLE = "state-sample"  # the selected test-set index

# The dataset itself (a random sample) and the mistakes gallery (app/panels/gallery.py)
DATA_SPLIT = "data-split"  # "test" or "train"
DATA_CLASS = "data-class"  # a class index, or "all"
DATA_NEW = "data-new"  # draws a new random sample
DATA_SEED = "state-data-seed"  # the sample's seed: in the address, so a link shows the same images
DATA_GRID = "data-grid"
DATA_COUNTS = "data-counts"
DATA_TILE = "data-tile"  # pattern-matching type, like SUSPECT_TILE (test images only)
GALLERY_MODE = "gallery-mode"  # "mistakes" (most confident) or "unsure" (least confident correct answers)
GALLERY = "gallery"
GALLERY_TILE = "gallery-tile"  # pattern-matching type, like SUSPECT_TILE

# The chapter, live: a guide of links that open the views reproducing the chapter's figures
CHAPTER = "chapter-guide"
CHAPTER_LIST = "chapter-list"  # drawn in the browser (assets/chapter.js) from CHAPTER_DATA
CHAPTER_DATA = "chapter-data"

# Building a network in the page, and the ladder of widths and depths
BUILD_HIDDEN = "build-hidden"
BUILD_ACTIVATION = "build-activation"
BUILD_TRAIN = "build-train"
BUILD_NOTE = "build-note"
LADDER_GRAPH = "ladder-graph"
LADDER_TRAIN = "ladder-train"
LADDER_NOTE = "ladder-note"
LADDER_PROGRESS = "ladder-progress"
LADDER_POLL = "ladder-poll"
STATE_LADDER_JOB = "state-ladder-job"
STATE_LADDER_DONE = "state-ladder-done"

# What each layer turned the images into (app/panels/embedding.py)
EMBEDDING = "embedding-graph"
EMBEDDING_LAYER = "embedding-layer"
EMBEDDING_METHOD = "embedding-method"  # "pca" (computed on the spot) or "umap" (a background job, cached)
EMBEDDING_TIP = "embedding-tip"  # the hovered point's image, classes and probability (assets/map.js)
EMBEDDING_NOTE = "embedding-note"
EMBEDDING_SEPARATION = "embedding-separation"  # nearest-class-mean accuracy in each layer
EMBEDDING_PROGRESS = "embedding-progress"
EMBEDDING_POLL = "embedding-poll"
STATE_EMBEDDING_JOB = "state-embedding-job"
STATE_EMBEDDING_DONE = "state-embedding-done"
EMBEDDING_PICKED = "embedding-picked"  # under the map: how many images the box or lasso picked
STATE_MAP_PICK = "state-map-pick"  # the test-set indices selected on the map with the box or lasso
STATE_HIGHLIGHT = "state-highlight"  # rows the table's filter keeps, to highlight on the map: {"indices", "label"}
EXPLAIN_NEAREST = "explain-nearest"  # the nearest training images of the explained image, in the map's layer

# Switching first-layer units off (app/panels/switch.py)
STATE_OFF = "state-units-off"  # the units switched off: a sorted list of unit indices
OFF_NOTE = "off-note"  # above the heatmap: which units are off, the accuracy change, and "switch all on"
OFF_RESET = "off-reset"
OFF_PROGRESS = "off-progress"
OFF_POLL = "off-poll"
STATE_OFF_JOB = "state-off-job"
STATE_OFF_DONE = "state-off-done"

# A table of every prediction (app/panels/table.py)
TABLE = "predictions-table"
TABLE_NOTE = "predictions-note"
EMBEDDING_COMPUTE = "embedding-compute"  # a convnet's layers: one pass over the images, as a background job
STATE_EMBEDDING_BASE = "state-embedding-base"  # the server's map, before the browser adds the highlights
OFF_ASK = "off-ask"  # the units switched off, once there are some: a convnet's pass may be needed
OFF_JOB_NOTE = "off-job-note"  # a convnet's pass: queued, or why it was refused
OFF_COMPUTE = "off-compute"  # a convnet's pass for the filters a link switched off: only a press queues it
TABLE_SINK = "predictions-sink"  # the browser-side refresh's dummy output

# The network drawn from its weights (app/panels/diagram.py)
DIAGRAM_CARD = "diagram-card"  # a <details>: drawn only once it is opened
DIAGRAM_GRAPH = "diagram-graph"
DIAGRAM_BOX = "diagram-box"  # holds the graph once the card is opened: a closed card renders no Plotly figure
DIAGRAM_OUTPUT = "diagram-output"  # the output whose incoming edges the 1-layer diagram draws
DIAGRAM_OUTPUT_BOX = "diagram-output-box"  # the choice and its label, hidden for a net with hidden layers
DIAGRAM_ASK = "diagram-ask"  # what to draw, set in the browser only while the card is open: closed, it asks nothing

# The smallest change that fools the network, in the explanation card (app/panels/explain.py)
FOOL = "fool-button"
FOOL_TARGET = "fool-target"  # "nearest", or a class index in digits
FOOL_RESULT = "fool-result"
FOOL_PROBS = "fool-probs"
FOOL_PROGRESS = "fool-progress"  # a convnet's search, queued
FOOL_NOTE = "fool-note"
FOOL_POLL = "fool-poll"
STATE_FOOL_JOB = "state-fool-job"
STATE_FOOL_DONE = "state-fool-done"

# Pixel maps and their sanity check (models/saliency.py), in the explanation card
SALIENCY_BOX = "saliency-box"  # the map method's menu, shown for a network whose maps are estimates
SALIENCY_METHOD = "saliency-method"
SANITY = "sanity-button"  # "Can I trust this map?": the randomisation cascade
SANITY_RESULT = "sanity-result"

# How far to trust its confidence (app/panels/calibration.py), and side by side in Compare
COMPARE_CALIBRATION = "compare-calibration"
COMPARE_CALIBRATION_NOTE = "compare-calibration-note"
CALIBRATION_GRAPH = "calibration-graph"
CALIBRATION_SCALED = "calibration-scaled"  # [] or ["scaled"]: the temperature-scaled probabilities
CALIBRATION_NOTE = "calibration-note"
CALIBRATION_BIN = "calibration-bin"  # the images of the bin clicked

# The unit view (app/panels/unit.py): one unit of any layer, what drives it, and what it sends on
UNIT_CARD = "unit-card"
UNIT_LAYER = "unit-layer"  # the layer, as the page numbers them (1: the first hidden layer)
UNIT_NUMBER = "unit-number"  # the unit within it, from 1
UNIT_BODY = "unit-body"
UNIT_VISUAL = "unit-visual"  # its feature visualisation, or the job's progress towards it
UNIT_PROGRESS = "unit-progress"
UNIT_NOTE = "unit-note"
UNIT_POLL = "unit-poll"
STATE_UNIT_JOB = "state-unit-job"
STATE_UNIT_DONE = "state-unit-done"
OWN_FOOL_BOX = "own-fool-box"  # Fool it for a drawing or an upload
OWN_FOOL = "own-fool-button"
OWN_FOOL_TARGET = "own-fool-target"
OWN_FOOL_RESULT = "own-fool-result"
OWN_FOOL_PROBS = "own-fool-probs"
OWN_FOOL_PROGRESS = "own-fool-progress"  # a convnet's search for a drawing or an upload, queued
OWN_FOOL_NOTE = "own-fool-note"
OWN_FOOL_POLL = "own-fool-poll"
STATE_OWN_FOOL_JOB = "state-own-fool-job"
STATE_OWN_FOOL_DONE = "state-own-fool-done"

# Which training images taught it this (models/influence.py), under an explanation
INFLUENCE = "influence-panel"
INFLUENCE_FIND = "influence-find"  # a job for the nets whose scoring is seconds, not milliseconds
INFLUENCE_PROGRESS = "influence-progress"
INFLUENCE_NOTE = "influence-note"
INFLUENCE_POLL = "influence-poll"
STATE_INFLUENCE_JOB = "state-influence-job"
STATE_INFLUENCE_DONE = "state-influence-done"
