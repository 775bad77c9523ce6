"""`python -m app`: make the default network ready (download, train if needed), then serve the dashboard."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import replace

from dash import Dash

from models import datasets, kinds
from models.cli import OneLineParser, ProgressBar
from models.config import Settings
from models.errors import CheckpointError, LookInsideError
from models.zoo import Zoo

from .access import Access
from .main import DEFAULT_ARCH, DEFAULT_DATASET, create_app, warm

log = logging.getLogger("lookinside")


def parse_args(argv=None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m app", description="Serve the Looking Inside dashboard.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument("--data-dir", help="dataset root (default: $LOOKINSIDE_DATA_DIR, else ./data)")
    p.add_argument("--model-dir", help="the folder networks are saved to and read from first (default: "
                                      "$LOOKINSIDE_MODEL_DIR, else ~/.local/share/lookinside/models over the shipped "
                                      "./checkpoints, which are only read)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda, for training")
    p.add_argument("--offline", action="store_true", help="never download; datasets not on disk show a message")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (reloader, dev tools); never in production")
    args = p.parse_args(argv)
    if not 0 < args.port < 65536:
        p.error(f"argument --port: {args.port} is not a port number")
    return args


def warm_default(zoo: Zoo) -> None:
    """The first page must work: get the default pair's data, checkpoint and evaluation, with a bar."""
    try:
        with ProgressBar(f"{DEFAULT_DATASET}/{DEFAULT_ARCH}") as bar:
            ev = zoo.evaluation(DEFAULT_DATASET, DEFAULT_ARCH, on_progress=bar.update)
        log.info("%s/%s ready: %.2f%% test accuracy", DEFAULT_DATASET, DEFAULT_ARCH, 100 * ev.accuracy)
    except LookInsideError as e:
        log.warning("warning: %s\nThe dashboard starts anyway and shows this in the page.", e)


def warm_others(zoo: Zoo, app: Dash) -> None:
    """Evaluate the other checkpoints already on disk, then load them all, so that switching is instant."""
    local = Zoo(replace(zoo.settings, offline=True))  # never download from a background thread
    for name in datasets.DATASETS:
        for arch in kinds.KINDS:
            if (name, arch) == (DEFAULT_DATASET, DEFAULT_ARCH) or not zoo.has_checkpoint(name, arch):
                continue
            try:
                local.evaluate(local.load(name, arch))
            except (LookInsideError, CheckpointError):
                continue  # missing data or a bad checkpoint: the page handles that pair when it is chosen
    warm(app)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        settings = Settings.resolve(args.data_dir, args.model_dir, args.offline, args.device)
    except LookInsideError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Ctrl+C stops the dashboard even when it was started from a script's background job, which starts with
    # SIGINT ignored (Python then keeps it ignored, and the server never stopped).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    zoo = Zoo(settings)
    log.info("data: %s\nmodels: %s%s%s", settings.data_dir, settings.model_dir,
             f" (over the shipped ones in {settings.shipped_dir}, read only)" if settings.shipped_dir else "",
             " (offline)" if settings.offline else "")
    warm_default(zoo)
    # On loopback with no admin token this is one person's own dashboard: everything is allowed.
    single_user = args.host in ("127.0.0.1", "localhost", "::1")
    app = create_app(settings, Access.from_env(single_user=single_user))
    warming = threading.Thread(target=warm_others, args=(zoo, app), daemon=True, name="warm")
    warming.start()
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{args.port}"
    print(f"Looking Inside is running at {url}  (Ctrl+C to stop)", flush=True)
    try:
        app.run(host=args.host, port=args.port, debug=args.debug)
    except OSError as e:
        print(f"error: cannot serve on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 2
    if warming.is_alive():
        # Stopped while the warm-up thread is inside torch: finalising the interpreter around it aborted
        # ("terminate called without an active exception", exit status -6). Nothing is left to save.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
