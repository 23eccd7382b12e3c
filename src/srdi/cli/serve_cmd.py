"""`srdi serve`: the web app and REST API (FastAPI + uvicorn). Imports only typer at import time."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
        port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
        workers: int = typer.Option(1, "--workers", min=1, max=64,
                                    help="Worker processes (2 on 2 cores for throughput; batch jobs live in one worker)."),
        log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    ):
        """Serve the web app (zh/en pages) and the REST API (/api/v1, /openapi.json)."""
        import uvicorn

        typer.echo(f"srdi: serving on http://{host}:{port}/  (API docs: /api/docs, OpenAPI: /openapi.json)")
        uvicorn.run("srdi.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=False, server_header=False, proxy_headers=False)
