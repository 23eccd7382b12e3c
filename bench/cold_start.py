"""Cold start of one `srdi assess` beside `python -c pass` (issue 2 target: <= 300 ms).

Runs both commands alternately N times in this process's machine state and prints medians and
the ratio. Usage: .venv/bin/python bench/cold_start.py [N]
"""
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PY = sys.executable
SRDI = [PY, "-m", "srdi"]


# A user's Python caches bytecode (__pycache__); sandboxes often set PYTHONDONTWRITEBYTECODE,
# which would make every run recompile srdi's sources. Measure as a user's machine runs it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
    return time.perf_counter() - t


def main(n=15):
    example = ROOT / "src" / "srdi" / "examples" / "precision_machinery.yaml"
    assess = SRDI + ["assess", str(example), "--as-of", "2026-06-01", "--format", "json"]
    run(assess)  # fill the rule cache once, as any installed user has after the first run
    base, srdi = [], []
    for _ in range(n):
        base.append(run([PY, "-c", "pass"]))
        srdi.append(run(assess))
    b, s = statistics.median(base), statistics.median(srdi)
    print(f"python -c pass: median {b * 1000:.0f} ms")
    print(f"srdi assess (json): median {s * 1000:.0f} ms, min {min(srdi) * 1000:.0f} ms")
    print(f"cold_start: srdi_ms={s * 1000:.0f} python_ms={b * 1000:.0f} net_ms={(s - b) * 1000:.0f} ratio={s / b:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
