"""Batch assessment of many enterprises: files in and out, synthetic populations, Spark,
rule-change simulation and benchmarks (docs/batch.md).

`run_batch(input_path, output_path, as_of, mode="application", mapping=None, lang="zh",
progress=None) -> dict` is the entry point for files (the CLI `srdi batch` and the web app).
"""
from __future__ import annotations


def run_batch(input_path, output_path, as_of, mode="application", mapping=None, lang="zh", progress=None, **kw):
    from .runner import run_batch as _run

    return _run(input_path, output_path, as_of, mode=mode, mapping=mapping, lang=lang, progress=progress, **kw)


__all__ = ["run_batch"]
