"""The app shell: builds the page from its panels, wires their callbacks, and exposes the WSGI server."""
from __future__ import annotations

from pathlib import Path

from dash import Dash, html

from models.config import Settings

from . import jobs, security
from .panels import address, compare, confusion, explain, model, own, samples, suspects, timeline, weights
from .service import Service

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_DATASET, DEFAULT_ARCH = "mnist", "linear"


def layout() -> html.Div:
    return html.Div(className="page", children=[
        html.Header(className="header", children=[
            html.Div(className="title", children=[
                html.H1("Looking Inside"),
                html.P("Open up a small neural network: see what it learned and where it fails.",
                       className="subtitle")]),
            model.controls(DEFAULT_DATASET, DEFAULT_ARCH),
        ]),
        timeline.layout(),
        model.training_box(),
        html.Main(className="grid", children=[confusion.layout(), samples.layout(), explain.layout(),
                                              weights.layout(), own.layout(), compare.layout(),
                                              suspects.layout()]),
        html.Footer(className="footer", children=(
            "After the chapter “Looking inside neural nets” of Machine Learning for Artists (ml4a). "
            "All numbers are on the test split, which the networks never trained on.")),
        *model.stores(), *samples.stores(), *address.layout(),
    ])


def create_app(settings: Settings) -> Dash:
    """One Dash app for these settings; callbacks share nothing mutable, so any number of workers agree."""
    manager = jobs.make_manager()
    app = Dash(__name__, title="Looking Inside", assets_folder=str(ASSETS), background_callback_manager=manager,
               update_title=None, on_error=security.log_callback_error,
               compress=True)  # gzip through flask-compress: the page's scripts shrink about 3x
    security.harden(app)
    app.layout = layout
    service = Service(settings)
    # The registered functions, kept so tests can call each callback directly.
    app.lookinside_callbacks = {**model.register(app, service, manager), **confusion.register(app, service),
                                **samples.register(app, service), **weights.register(app, service),
                                **explain.register(app, service), **suspects.register(app, service),
                                **timeline.register(app, service), **address.register(app),
                                **compare.register(app, service), **own.register(app, service)}
    # Dash records which component libraries it may serve only while rendering the index page. Under
    # gunicorn a worker can be asked for a library's script before it ever rendered the index, and
    # would refuse it: render it once here, in every process that builds the app.
    app.server.test_client().get("/")
    return app
