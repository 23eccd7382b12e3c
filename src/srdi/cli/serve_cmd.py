"""`srdi serve`: the web app and REST API (FastAPI + uvicorn). Imports only typer at import time."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
        workers: int = typer.Option(1, "--workers", min=1, max=64,
                                    help="Worker processes (2 on 2 cores for throughput); connections are "
                                         "dealt to them in turn."),
        log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    ):
        """Serve the web app (zh/en pages) and the REST API (/api/v1, /openapi.json)."""
        from srdi.web.server import run

        typer.echo(f"srdi: serving on http://{host}:{port}/  (API docs: /api/docs, OpenAPI: /openapi.json)")
        try:
            run(host, port, workers, log_level)
        except OSError as e:  # the address is taken or not ours
            typer.echo(f"srdi serve: cannot listen on {host}:{port}: {e.strerror or e}", err=True)
            raise typer.Exit(2) from None
