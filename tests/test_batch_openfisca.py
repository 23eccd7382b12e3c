"""The independent OpenFisca encoding of the R2022 SRDI score agrees with srdi on a population."""
import datetime as dt

import numpy as np
import pytest

pytest.importorskip("openfisca_core")

from srdi.batch import io
from srdi.batch.runner import prepare
from srdi.batch.synth import write_population
from srdi.engine.assess import evaluate_table

AS_OF = dt.date(2025, 6, 1)


def test_openfisca_agrees_with_srdi_scores(tmp_path):
    from srdi.batch.openfisca_srdi import inputs_from_frame, openfisca_scores

    p = tmp_path / "pop.parquet"
    write_population(20_000, 5, p)
    specs, _ = prepare(p, AS_OF, "application")
    frame = io.convert_chunk(next(io.read_chunks(p, 50_000)), specs).frame
    out = evaluate_table(frame, AS_OF, "application", keys=["srdi_sme#score_lo", "srdi_sme#score_hi"])
    lo, hi = out["srdi_sme#score_lo"].to_numpy(), out["srdi_sme#score_hi"].to_numpy()
    assert (lo == hi).all()  # complete synthetic data: every score decided
    of = openfisca_scores(inputs_from_frame(frame, AS_OF))
    srdi = lo / 10_000
    assert np.abs(of - srdi).max() < 1e-9, np.flatnonzero(np.abs(of - srdi) > 1e-9)[:10]
    assert srdi.std() > 5  # a real spread of scores, not a constant
