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


def test_plain_polars_anchor_agrees_with_openfisca(tmp_path):
    """The bench's speed anchor (plain Polars, scoring alone) computes the same score as the OpenFisca
    peer, row for row, on a population with a real spread: it is a real encoding, not a stand-in."""
    from srdi.batch.openfisca_srdi import inputs_from_frame, openfisca_scores
    from srdi.batch.plain_srdi import inputs_table, plain_scores

    p = tmp_path / "pop.parquet"
    write_population(20_000, 6, p)
    specs, _ = prepare(p, AS_OF, "application")
    frame = io.convert_chunk(next(io.read_chunks(p, 50_000)), specs).frame
    inputs = inputs_from_frame(frame, AS_OF)
    plain = plain_scores(inputs_table(inputs))
    of = openfisca_scores(inputs)
    assert np.abs(plain - of).max() < 1e-9, np.flatnonzero(np.abs(plain - of) > 1e-9)[:10]
    assert plain.std() > 5 and len(np.unique(plain)) > 30
    # an edge of a band, decided exactly: R&D at exactly 3% of revenue scores the 3% band (2 points)
    edge = {k: np.array(v[:1]) for k, v in inputs.items()}
    edge.update(rev=np.array([100_000_000.0]), rd=np.array([3_000_000.0]))
    below = dict(edge, rd=np.array([2_999_999.0]))
    above = dict(edge, rd=np.array([3_000_001.0]))
    got = [plain_scores(inputs_table(x))[0] for x in (below, edge, above)]
    assert [got[1] - got[0], got[2] - got[1]] == [2, 0]
    assert got == [openfisca_scores(x)[0] for x in (below, edge, above)]
