"""The srdi web app and REST API (FastAPI). Entry point: `create_app()`; `srdi serve` runs it."""


def create_app():
    from .app import create_app as _create

    return _create()


__all__ = ["create_app"]
