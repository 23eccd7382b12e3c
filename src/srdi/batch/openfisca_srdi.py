"""An independent OpenFisca (openfisca-core) encoding of the R2022 SRDI score (criteria.md §4.3,
13 indicators, 100 points), written from the annex, not from srdi's rule files: the anchor peer of
`srdi bench`, and a cross-check (tests/test_batch_openfisca.py) that it agrees with srdi's scores.

Money is held in fen as float64 (exact integers below 2^53) and ratio bands are compared by
cross-multiplication (rd * 100 >= 3 * revenue), so that band edges are decided exactly.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
from openfisca_core.entities import build_entity
from openfisca_core.periods import DateUnit
from openfisca_core.simulation_builder import SimulationBuilder
from openfisca_core.taxbenefitsystems import TaxBenefitSystem
from openfisca_core.variables import Variable

Enterprise = build_entity(key="enterprise", plural="enterprises", label="An enterprise", is_person=True)


class _F64(Variable):
    """float64 storage (openfisca's float is float32: too coarse for money in fen)."""

    def __init__(self, baseline_variable=None):
        super().__init__(baseline_variable)
        self.dtype = np.float64


_F64.kind = float


class _I(Variable):
    pass


_I.kind = int


class _B(Variable):
    pass


_B.kind = bool


def _var(name: str, base, formula=None):
    attrs = {"value_type": base.kind, "entity": Enterprise, "definition_period": DateUnit.YEAR, "label": name}
    if formula is not None:
        attrs["formula"] = formula
    return type(name, (base,), attrs)


MONEY = ["rev", "mbr1", "mbr2", "mbr3", "rd", "profit", "assets", "liab"]
COUNTS = ["emp", "rd_emp", "niche_years", "digital_level", "ip_c1", "ip_c1_self", "ip_c1_hv", "ip_c2", "rd_inst"]
FLAGS = ["chain_gap", "six_foundations", "q_award", "q_cert", "q_brand", "q_std"]
INPUTS = {**{k: _F64 for k in MONEY}, "local_score": _F64, **{k: _I for k in COUNTS}, **{k: _B for k in FLAGS}}
RD_INST_CODES = {"national": 4, "provincial": 3, "municipal": 2, "below_municipal": 1, "none": 0}


def _bands(conds, points, default=0.0):
    return np.select(conds, points, default)


def ind_main_share(e, period):  # 1. main-business share: 80/70/60% -> 5/3/1
    m, r = e("mbr1", period), e("rev", period)
    return _bands([m * 100 >= 80 * r, m * 100 >= 70 * r, m * 100 >= 60 * r], [5, 3, 1]) * (r > 0)


def ind_growth(e, period):  # 2. 2-year average main-business growth: 10/8/6/4/0% -> 10/8/6/4/2
    a, b, c = e("mbr1", period), e("mbr2", period), e("mbr3", period)
    ok = (b > 0) & (c > 0)
    g = np.where(ok, ((a - b) / np.where(b > 0, b, 1) + (b - c) / np.where(c > 0, c, 1)) / 2, -1.0)
    return _bands([g >= 0.10, g >= 0.08, g >= 0.06, g >= 0.04, g >= 0], [10, 8, 6, 4, 2]) * ok


def ind_niche(e, period):  # 3. one point per full two years, max 5
    return np.minimum(e("niche_years", period) // 2, 5).astype(np.float64)


def ind_field(e, period):  # 4. chain gap-filling 5, six foundations 3
    return _bands([e("chain_gap", period), e("six_foundations", period)], [5, 3])


def ind_digital(e, period):  # 5. level 3+ 5, level 2 3
    lv = e("digital_level", period)
    return _bands([lv >= 3, lv == 2], [5, 3])


def ind_quality(e, period):  # 6. 3 points per item, max 5
    n = sum(e(k, period).astype(np.int64) for k in ("q_award", "q_cert", "q_brand", "q_std"))
    return np.minimum(3 * n, 5).astype(np.float64)


def ind_margin(e, period):  # 7. net margin 10/8/6/4/2% -> 10/8/6/4/2
    p, r = e("profit", period), e("rev", period)
    return _bands([p * 100 >= k * r for k in (10, 8, 6, 4, 2)], [10, 8, 6, 4, 2]) * (r > 0)


def ind_debt(e, period):  # 8. debt ratio <= 50/60/70% -> 5/3/1
    lb, a = e("liab", period), e("assets", period)
    return _bands([lb * 100 <= k * a for k in (50, 60, 70)], [5, 3, 1]) * (a > 0)


def ind_local(e, period):  # 9. 特色化 as awarded by the province (0-15)
    return e("local_score", period)


def ind_ip(e, period):  # 10. IP: high-value 10, self-developed 8, class I 6, class II 2
    return _bands([e("ip_c1_hv", period) >= 1, e("ip_c1_self", period) >= 1, e("ip_c1", period) >= 1,
                   e("ip_c2", period) >= 1], [10, 8, 6, 2])


def ind_rd(e, period):  # 11. R&D amount or share, the better band
    rd, r = e("rd", period), e("rev", period)
    wan = 1_000_000  # 1 万元 in fen
    amount = _bands([rd >= k * wan for k in (500, 400, 300, 200, 100)], [10, 8, 6, 4, 2])
    share = _bands([rd * 100 >= k * r for k in (10, 8, 6, 4, 3)], [10, 8, 6, 4, 2]) * (r > 0)
    return np.maximum(amount, share)


def ind_rd_staff(e, period):  # 12. R&D staff share 20/10/5% -> 5/3/1
    s, n = e("rd_emp", period), e("emp", period)
    return _bands([s * 100 >= k * n for k in (20, 10, 5)], [5, 3, 1]) * (n > 0)


def ind_rd_inst(e, period):  # 13. R&D institution level
    return _bands([e("rd_inst", period) == c for c in (4, 3, 2, 1)], [10, 8, 4, 2])


INDICATORS = [ind_main_share, ind_growth, ind_niche, ind_field, ind_digital, ind_quality, ind_margin,
              ind_debt, ind_local, ind_ip, ind_rd, ind_rd_staff, ind_rd_inst]


def build_system() -> TaxBenefitSystem:
    tbs = TaxBenefitSystem([Enterprise])
    for name, base in INPUTS.items():
        tbs.add_variable(_var(name, base))
    def make(fn):
        def formula(enterprise, period):
            return fn(enterprise, period)

        return formula

    for fn in INDICATORS:
        tbs.add_variable(_var(fn.__name__, _F64, make(fn)))

    def score(enterprise, period):
        return sum(enterprise(fn.__name__, period) for fn in INDICATORS)

    tbs.add_variable(_var("srdi_score", _F64, score))
    return tbs


def inputs_from_frame(df, as_of: dt.date) -> dict[str, np.ndarray]:
    """OpenFisca inputs from an engine frame (money in fen, the srdi batch input columns)."""
    import polars as pl

    y = as_of.year - 1

    def col(c, dtype=pl.Float64, fill=0):
        return df.get_column(c).cast(dtype).fill_null(fill).to_numpy() if c in df.columns else np.full(df.height, fill)

    f = lambda k, yy=y: col(f"financials.{yy}.{k}")  # noqa: E731
    niche = df.get_column("niche_since") if "niche_since" in df.columns else None
    if niche is not None:
        yr = niche.dt.year().cast(pl.Int64).to_numpy()
        jan1 = ((niche.dt.month() == 1) & (niche.dt.day() == 1)).to_numpy()
        ny = np.maximum(as_of.year - yr - np.where(jan1, 0, 1), 0)
    else:
        ny = np.zeros(df.height, dtype=np.int64)
    inst = df.get_column("rd_institution").replace_strict(RD_INST_CODES, default=0, return_dtype=pl.Int32).to_numpy() \
        if "rd_institution" in df.columns else np.zeros(df.height)
    return {
        "rev": f("operating_revenue"), "mbr1": f("main_business_revenue"), "mbr2": f("main_business_revenue", y - 1),
        "mbr3": f("main_business_revenue", y - 2), "rd": f("rd_expense"), "profit": f("net_profit"),
        "assets": f("total_assets"), "liab": f("total_liabilities"),
        "emp": f("employees"), "rd_emp": f("rd_employees"), "niche_years": ny,
        "digital_level": col("digital_level"), "ip_c1": col("ip.class1"), "ip_c1_self": col("ip.class1_self_developed"),
        "ip_c1_hv": col("ip.class1_high_value"), "ip_c2": col("ip.class2"), "rd_inst": inst,
        "chain_gap": col("product_field.chain_gap_filling", pl.Boolean, False),
        "six_foundations": col("product_field.six_foundations", pl.Boolean, False),
        "q_award": col("quality.provincial_quality_award", pl.Boolean, False),
        "q_cert": col("quality.quality_system_certified", pl.Boolean, False),
        "q_brand": col("quality.own_brand", pl.Boolean, False),
        "q_std": col("quality.standards_drafting", pl.Boolean, False),
        "local_score": col("local_score") / 10_000,
    }


_TBS = None
PERIOD = "2024"  # one period: the fiscal year assessed (inputs are already per year)


def openfisca_scores(inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The R2022 SRDI score for every enterprise, computed by OpenFisca."""
    global _TBS
    if _TBS is None:
        _TBS = build_system()
    n = len(next(iter(inputs.values())))
    sim = SimulationBuilder().build_default_simulation(_TBS, count=n)
    for k, v in inputs.items():
        sim.set_input(k, PERIOD, np.asarray(v))
    return sim.calculate("srdi_score", PERIOD)
