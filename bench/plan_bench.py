"""Benchmark of the pathway planner: one plan (warm, per shared case) and a pool of N firms.
Usage: .venv/bin/python bench/plan_bench.py [N=100000] [PLAN_LIMIT=50]"""
import sys
import tempfile
import time
from pathlib import Path

import yaml

from srdi.planner import make_plan
from srdi.planner.pool import plan_pool
from srdi.profile import validate_profile

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    for alts in (0, 3):
        times = []
        for f in sorted(CASES.glob("*.yaml")):
            c = yaml.safe_load(f.read_text(encoding="utf-8"))
            p = validate_profile(c["profile"])
            for tier in ("srdi_sme", "little_giant"):
                make_plan(p, c["as_of"], tier, alternatives=alts)  # warm: compiled packs cached
                t = time.perf_counter()
                make_plan(p, c["as_of"], tier, alternatives=alts)
                times.append((time.perf_counter() - t, f.stem, tier))
        times.sort()
        med = times[len(times) // 2][0]
        print(f"one plan (warm, {alts} alternatives): median {med * 1000:.0f} ms, min {times[0][0] * 1000:.0f} ms, "
              f"max {times[-1][0] * 1000:.0f} ms ({times[-1][1]}:{times[-1][2]}) over {len(times)} plans")
    from srdi.batch.synth import generate

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "pool.parquet"
        generate(n, seed=1).write_parquet(src)
        t = time.perf_counter()
        res = plan_pool(str(src), "2025-06-01", "srdi_sme", plan_limit=limit, horizon=2)
        el = time.perf_counter() - t
    print(f"pool of {n:,} firms (screen + exact plans for the {limit} nearest): {el:.1f} s; "
          f"passing now {int(res['passes_now'].fill_null(False).sum()):,}, "
          f"one condition away {int((res['failing_conditions'] == 1).sum()):,}")


if __name__ == "__main__":
    main()
