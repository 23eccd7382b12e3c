"""Benchmark of the pathway planner: one plan (warm, per shared case and tier) and a pool of N firms.

Usage: .venv/bin/python bench/plan_bench.py [N=100000] [POOL_SECONDS=55] [WORKERS=2] [REPEATS=5]

One plan: every shared case x (srdi_sme, little_giant), with 0 and with 3 alternatives (make_plan's
default); each plan is run once to warm the caches (compiled packs) and then REPEATS times; the
per-plan figure is the median of the repeats; median / p95 / max are over the plans.
Pool: N synthetic firms (srdi.batch.synth, seed 1; generation not timed), as-of 2025-06-01, target
srdi_sme, horizon 2, plan_pool with plan_limit None (every firm), time_budget POOL_SECONDS for the
whole call (read, screen, R&D top-up bounds, exact plans) and WORKERS processes; the rows are
counted by cost_kind. Then (not timed) TIGHT_SAMPLE firms priced by an R&D top-up bound, drawn at
random, are planned exactly one by one and the bound compared with the proven optimum.
The load average is printed before and after: timings on a shared machine are noisy.
The last line has a stable shape: `RESULT key=value ...`.
"""
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from srdi.engine.packs import parse_date
from srdi.planner import make_plan
from srdi.planner.pool import plan_pool
from srdi.profile import validate_profile

TIGHT_SAMPLE = 150  # firms priced by a top-up bound that are then planned exactly (not timed)
CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"


def _pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def _load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def plans(alts: int, repeats: int):
    rows = []
    for f in sorted(CASES.glob("*.yaml")):
        c = yaml.safe_load(f.read_text(encoding="utf-8"))
        p = validate_profile(c["profile"])
        for tier in ("srdi_sme", "little_giant"):
            out = make_plan(p, c["as_of"], tier, alternatives=alts)  # warm: compiled packs cached
            ts = []
            for _ in range(repeats):
                t = time.perf_counter()
                make_plan(p, c["as_of"], tier, alternatives=alts)
                ts.append(time.perf_counter() - t)
            pl_ = out["plan"]
            rows.append((statistics.median(ts), min(ts), f.stem, tier, pl_["feasible"], pl_.get("optimal")))
    return rows


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 55.0
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    print(f"start: {_load()}, {os.cpu_count()} cores")
    summary = {}
    for alts in (0, 3):
        rows = plans(alts, repeats)
        print(f"one plan, warm, {alts} alternatives (median of {repeats} runs; min):")
        for med, mn, case, tier, feas, opt in rows:
            print(f"  {case:36s} {tier:13s} {med * 1000:7.1f} ms  (min {mn * 1000:6.1f})  "
                  f"feasible={feas} optimal={opt}")
        ts = [r[0] for r in rows]
        worst = max(rows)
        print(f"  => median {statistics.median(ts) * 1000:.0f} ms, p95 {_pct(ts, 0.95) * 1000:.0f} ms, "
              f"max {worst[0] * 1000:.0f} ms ({worst[2]}:{worst[3]}) over {len(rows)} plans")
        summary[alts] = (statistics.median(ts), _pct(ts, 0.95), worst[0])
    from srdi.batch.synth import write_population

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "pool.parquet"
        write_population(n, 1, src, headers="contract")  # money in yuan, as files hold it
        print(f"pool: {_load()}")
        t = time.perf_counter()
        res = plan_pool(str(src), "2025-06-01", "srdi_sme", plan_limit=None, horizon=2, time_budget=budget,
                        workers=workers)
        el = time.perf_counter() - t
        # how tight the top-up bounds are (not timed): a random sample of the firms priced by a top-up
        # bound, planned exactly one by one; the bound against the proven optimum
        import random

        import polars as pl

        from srdi.engine.measures import path_kind
        from srdi.planner.costs import load_costs
        from srdi.planner.pool import _known, plan_firm, read_pool

        F = read_pool(str(src), parse_date("2025-06-01"))
        sub = F.select([c for c in F.columns if _known(c, path_kind)])
        top = res.filter(pl.col("cost_kind") == "topup")
        pick = random.Random(1).sample(range(top.height), min(TIGHT_SAMPLE, top.height))
        same = dearer = cheaper = unproven = 0
        ratios = []  # bound / optimum where the bound is dearer
        for k in pick:
            r = top.row(k, named=True)
            row = {c: v for c, v in sub.row(r["row"] - 1, named=True).items() if v is not None}
            cost, _, _, kind = plan_firm(row, parse_date("2025-06-01"), "srdi_sme", "application", 2, load_costs(None),
                                         row_budget=12_000)
            if kind != "exact":
                unproven += 1
            elif round(cost * 100) == round(r["cost_yuan"] * 100):
                same += 1
            elif cost < r["cost_yuan"]:
                dearer += 1
                ratios.append(r["cost_yuan"] / cost if cost else float("inf"))
            else:
                cheaper += 1  # a bound below the optimum would be a bug

        print(f"top-up bounds, {len(pick)} sampled firms planned exactly: bound = optimum {same}, bound dearer "
              f"{dearer} (bound / optimum: median {statistics.median(ratios) if ratios else 0:.1f}, max "
              f"{max(ratios, default=0):.1f}), search not finished {unproven}, bound cheaper (a bug) {cheaper}")
    kinds = dict(zip(*[res["cost_kind"].value_counts().sort("cost_kind")[c].to_list() for c in ("cost_kind", "count")]))
    now = int(res["passes_now"].fill_null(False).sum())
    exact = kinds.get("exact", 0) + kinds.get("infeasible", 0)
    proven = res.filter((pl.col("cost_kind") == "infeasible") & pl.col("steps").is_not_null()).height
    planned = sum(kinds.get(k, 0) for k in ("exact", "infeasible", "bound", "budget", "error")) - now
    print(f"pool of {n:,} firms, {workers} workers, time budget {budget:.0f} s: {el:.1f} s; "
          f"passing now {now:,}; exact {exact:,} (passing now {now:,} + planned exact {exact - now:,}, "
          f"of which infeasible {kinds.get('infeasible', 0):,}, {proven:,} of them proven column-wise); "
          f"searched {planned - proven:,} "
          f"(bound {kinds.get('bound', 0):,}, budget {kinds.get('budget', 0):,}, error {kinds.get('error', 0):,}); "
          f"R&D top-up bound {kinds.get('topup', 0):,}; estimate {kinds.get('estimate', 0):,}; none {kinds.get('none', 0):,}")
    print(f"end: {_load()}")
    m0, p0, x0 = summary[0]
    m3, p3, x3 = summary[3]
    print(f"RESULT plan_median_ms={m0 * 1000:.0f} plan_p95_ms={p0 * 1000:.0f} plan_max_ms={x0 * 1000:.0f} "
          f"plan3_median_ms={m3 * 1000:.0f} plan3_p95_ms={p3 * 1000:.0f} plan3_max_ms={x3 * 1000:.0f} "
          f"pool_n={n} pool_s={el:.1f} pool_exact={exact} pool_planned_exact={exact - now} "
          f"pool_infeasible_proven={proven} pool_topup={kinds.get('topup', 0)} pool_estimate={kinds.get('estimate', 0)} pool_none={kinds.get('none', 0)} "
          f"topup_equal_exact={same}/{len(pick) - unproven} topup_cheaper_than_exact={cheaper}")


if __name__ == "__main__":
    main()
