"""A plain Polars encoding of the R2022 SRDI score (criteria.md §4.3, 13 indicators): the machine's
speed anchor in `srdi bench`.

Issue 3 states its rows/s target against this very yardstick: "a plain Polars encoding of the
R2022 SRDI scoring alone (13 indicators, 3 conditions) ran at about 47M rows/s here on 2 threads".
Timing the same kind of encoding in the same run tells how fast this machine is against the one the
target was set on, and how many times more the whole engine does than scoring alone. It is the
same formulas as the OpenFisca peer (openfisca_srdi, same inputs, floats holding fen), one Polars
expression per indicator summed into one score column: no per-condition outcomes, no missing
data (inputs_from_frame fills it), no explanation. Tests check it agrees with OpenFisca.
"""
from __future__ import annotations

import numpy as np

# 47M rows/s: issue 3's figure for such an encoding on the machine its targets were set on
ISSUE_PLAIN_ROWS_S = 47_000_000


def _bands(pl, conds, points):
    e = pl.lit(0.0)
    for c, p in reversed(list(zip(conds, points))):
        e = pl.when(c).then(float(p)).otherwise(e)
    return e


def score_expr():
    """The R2022 SRDI score over the columns of openfisca_srdi.inputs_from_frame."""
    import polars as pl

    c = pl.col
    rev, mbr1, mbr2, mbr3 = c("rev"), c("mbr1"), c("mbr2"), c("mbr3")
    grow_ok = (mbr2 > 0) & (mbr3 > 0)
    growth = pl.when(grow_ok).then(((mbr1 - mbr2) / mbr2 + (mbr2 - mbr3) / mbr3) / 2).otherwise(-1.0)
    nq = sum(c(k).cast(pl.Int64) for k in ("q_award", "q_cert", "q_brand", "q_std"))
    wan = 1_000_000  # 1 万元 in fen
    inds = [
        _bands(pl, [mbr1 * 100 >= k * rev for k in (80, 70, 60)], [5, 3, 1]) * (rev > 0),
        _bands(pl, [growth >= g for g in (0.10, 0.08, 0.06, 0.04, 0.0)], [10, 8, 6, 4, 2]) * grow_ok,
        pl.min_horizontal(c("niche_years") // 2, 5).cast(pl.Float64),
        _bands(pl, [c("chain_gap"), c("six_foundations")], [5, 3]),
        _bands(pl, [c("digital_level") >= 3, c("digital_level") == 2], [5, 3]),
        pl.min_horizontal(3 * nq, 5).cast(pl.Float64),
        _bands(pl, [c("profit") * 100 >= k * rev for k in (10, 8, 6, 4, 2)], [10, 8, 6, 4, 2]) * (rev > 0),
        _bands(pl, [c("liab") * 100 <= k * c("assets") for k in (50, 60, 70)], [5, 3, 1]) * (c("assets") > 0),
        c("local_score"),
        _bands(pl, [c("ip_c1_hv") >= 1, c("ip_c1_self") >= 1, c("ip_c1") >= 1, c("ip_c2") >= 1], [10, 8, 6, 2]),
        pl.max_horizontal(
            _bands(pl, [c("rd") >= k * wan for k in (500, 400, 300, 200, 100)], [10, 8, 6, 4, 2]),
            _bands(pl, [c("rd") * 100 >= k * rev for k in (10, 8, 6, 4, 3)], [10, 8, 6, 4, 2]) * (rev > 0)),
        _bands(pl, [c("rd_emp") * 100 >= k * c("emp") for k in (20, 10, 5)], [5, 3, 1]) * (c("emp") > 0),
        _bands(pl, [c("rd_inst") == k for k in (4, 3, 2, 1)], [10, 8, 4, 2]),
    ]
    return pl.sum_horizontal(inds).alias("srdi_score")


def inputs_table(inputs: dict[str, np.ndarray]):
    """The OpenFisca input arrays as one Polars table (the arrays are not copied)."""
    import polars as pl

    return pl.DataFrame({k: np.asarray(v) for k, v in inputs.items()})


def plain_scores(table) -> np.ndarray:
    """The R2022 SRDI score of every row of `inputs_table(...)`."""
    return table.select(score_expr()).get_column("srdi_score").to_numpy()
