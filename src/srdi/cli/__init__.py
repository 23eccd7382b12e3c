"""Command-line entry point. `srdi assess` (one firm, the most common call) takes a fast path
without Typer; everything else, and every --help, goes through the Typer app."""
import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["assess"] and not {"--help", "-h"} & set(argv):
        from .one import fast_main

        fast_main(argv[1:])
        return
    from .app import main as typer_main

    typer_main()
