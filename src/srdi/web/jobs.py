"""Batch jobs of the web app: checked uploads, one worker thread, progress, result files.

Two kinds of job: `assess` (srdi.batch.run_batch: every firm's outcomes) and `pool` (the cultivation
pool, srdi.planner.pool: firms ranked by what stands between them and a target tier, with costs).

Upload checks (before anything parses the file): size in bytes, number of rows, and for XLSX the
zip container (member count, total uncompressed size, compression ratio: decompression bombs).
Each job is a directory under JOBS_ROOT (env SRDI_WEB_JOBS, default <tmp>/srdi-web-jobs) holding the
upload, the result and `status.json`: with `srdi serve --workers N` a poll or a download may reach
any worker process, so the state is read from there. The last MAX_JOBS jobs are kept.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_UPLOAD_BYTES = 10 * 1024 * 1024       # 10 MiB
MAX_ROWS = 20_000                          # enterprises per file
MAX_XLSX_UNCOMPRESSED = 100 * 1024 * 1024  # all members together
MAX_XLSX_RATIO = 100                       # uncompressed / compressed, per member of any size > 1 MiB
MAX_XLSX_MEMBERS = 200
MAX_JOBS = 20
JOBS_ROOT = Path(os.environ.get("SRDI_WEB_JOBS") or Path(tempfile.gettempdir()) / "srdi-web-jobs")

_EXT = {".csv": "text/csv", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class UploadRejected(Exception):
    def __init__(self, status: int, detail: str, detail_zh: str):
        self.status, self.detail, self.detail_zh = status, detail, detail_zh
        super().__init__(detail)


@dataclass
class Job:
    id: str
    filename: str
    as_of: dt.date
    mode: str
    lang: str
    dir: Path
    input_path: Path
    output_path: Path | None = None
    status: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int | None = None
    summary: dict | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    kind: str = "assess"  # assess | pool
    target: str | None = None  # pool: the tier
    horizon: int = 2  # pool: years
    _saved: float = 0.0

    def save(self, force: bool = True) -> None:
        """Write status.json atomically (throttled to 5 a second unless forced)."""
        now = time.time()
        if not force and now - self._saved < 0.2:
            return
        self._saved = now
        data = {"id": self.id, "filename": self.filename, "as_of": self.as_of.isoformat(), "mode": self.mode,
                "lang": self.lang, "input": self.input_path.name,
                "output": self.output_path.name if self.output_path else None, "status": self.status,
                "done": self.done, "total": self.total, "summary": self.summary, "error": self.error,
                "created": self.created, "kind": self.kind, "target": self.target, "horizon": self.horizon}
        tmp = self.dir / f".status.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.dir / "status.json")

    @classmethod
    def load(cls, d: Path) -> "Job":
        data = json.loads((d / "status.json").read_text(encoding="utf-8"))
        return cls(id=data["id"], filename=data["filename"], as_of=dt.date.fromisoformat(data["as_of"]),
                   mode=data["mode"], lang=data["lang"], dir=d, input_path=d / data["input"],
                   output_path=d / data["output"] if data.get("output") else None, status=data["status"],
                   done=data.get("done") or 0, total=data.get("total"), summary=data.get("summary"),
                   error=data.get("error"), created=data.get("created") or 0.0, kind=data.get("kind") or "assess",
                   target=data.get("target"), horizon=data.get("horizon") or 2)

    @property
    def download_name(self) -> str:
        what = f"pool-{self.target}" if self.kind == "pool" else "srdi"
        return f"{Path(self.filename).stem}-{what}-{self.as_of.isoformat()}{self.output_path.suffix if self.output_path else ''}"

    @property
    def media_type(self) -> str:
        return _EXT.get(self.output_path.suffix if self.output_path else "", "application/octet-stream")

    def public(self) -> dict[str, Any]:
        pct = None
        if self.status == "done":
            pct = 100
        elif self.total:
            pct = min(99, int(100 * self.done / self.total))
        return {"id": self.id, "kind": self.kind, "target": self.target, "status": self.status,
                "filename": self.filename, "as_of": self.as_of.isoformat(), "mode": self.mode, "done": self.done, "total": self.total, "percent": pct,
                "summary": self.summary, "error": self.error,
                "result_url": f"/api/v1/batch/{self.id}/result" if self.status == "done" else None,
                "errors_url": f"/api/v1/batch/{self.id}/errors" if self.status == "done" and self.errors_path() else None}

    def errors_path(self) -> Path | None:
        """The batch module's file of bad cells (result.errors.<ext>), when it wrote one."""
        for p in sorted(self.dir.glob("result.errors.*")):
            return p
        return None


_jobs: dict[str, Job] = {}
_local: set[str] = set()  # jobs running in this process
_lock = threading.Lock()
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srdi-batch")


def get(job_id: str) -> Job:
    from .api import ApiError

    job = None
    if re.fullmatch(r"[0-9a-f]{32}", job_id or ""):
        job = _jobs.get(job_id)
        if job is None or job.status in ("queued", "running") and job_id not in _local:
            try:  # a job of another worker process, or this one's after a restart
                job = Job.load(JOBS_ROOT / job_id)
            except (OSError, ValueError, KeyError):
                job = None
    if job is None:
        raise ApiError(404, f"no batch job {job_id!r}")
    return job


def _safe_name(name: str | None) -> str:
    base = Path(name or "upload").name
    base = re.sub(r"[^\w.\-\u4e00-\u9fff]+", "_", base)[:100]
    return base or "upload"


def check_csv(path: Path) -> int:
    rows = 0
    with path.open("rb") as fh:
        for _ in fh:
            rows += 1
            if rows > MAX_ROWS + 1:
                raise UploadRejected(413, f"more than {MAX_ROWS} rows", f"超过 {MAX_ROWS} 行")
    return max(0, rows - 1)


_ROW = re.compile(rb"<(?:\w+:)?row[\s>]")


def check_xlsx(path: Path) -> int:
    """Refuse zip bombs and oversized sheets without inflating more than the limits allow."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise UploadRejected(422, "not a valid XLSX file (zip container)", "不是有效的 XLSX 文件") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_XLSX_MEMBERS:
            raise UploadRejected(413, "XLSX has too many parts", "XLSX 文件内部部件过多")
        total = sum(i.file_size for i in infos)
        if total > MAX_XLSX_UNCOMPRESSED:
            raise UploadRejected(413, f"XLSX uncompressed size {total} bytes exceeds {MAX_XLSX_UNCOMPRESSED}",
                                 "XLSX 解压后过大（疑似压缩炸弹）")
        for i in infos:
            if i.file_size > 1024 * 1024 and i.file_size > MAX_XLSX_RATIO * max(1, i.compress_size):
                raise UploadRejected(413, f"XLSX part {i.filename} has compression ratio above {MAX_XLSX_RATIO}",
                                     "XLSX 压缩比异常（疑似压缩炸弹）")
        sheets = [i for i in infos if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml")]
        if not sheets:
            raise UploadRejected(422, "XLSX has no worksheet", "XLSX 文件中没有工作表")
        rows = 0
        # Count rows by streaming the first sheet; reading is bounded by the checked sizes above.
        budget = MAX_XLSX_UNCOMPRESSED
        with zf.open(sorted(sheets, key=lambda i: i.filename)[0]) as fh:
            tail = b""
            while True:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                budget -= len(chunk)
                if budget < 0:
                    raise UploadRejected(413, "XLSX sheet too large", "XLSX 工作表过大")
                buf = tail + chunk
                rows += len(_ROW.findall(buf)) - len(_ROW.findall(tail))
                tail = buf[-16:]
                if rows > MAX_ROWS + 1:
                    raise UploadRejected(413, f"more than {MAX_ROWS} rows", f"超过 {MAX_ROWS} 行")
        return max(0, rows - 1)


def check_upload(path: Path, suffix: str) -> int:
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UploadRejected(413, f"file larger than {MAX_UPLOAD_BYTES} bytes", f"文件超过 {MAX_UPLOAD_BYTES // 1048576} MiB")
    if size == 0:
        raise UploadRejected(422, "empty file", "文件为空")
    return check_csv(path) if suffix == ".csv" else check_xlsx(path)


async def submit(upload, as_of: dt.date, mode: str, lang: str, kind: str = "assess", target: str | None = None,
                 horizon: int = 2) -> Job:
    from .api import ApiError
    from .problems import field_error

    name = _safe_name(upload.filename)
    suffix = Path(name).suffix.lower()
    if suffix not in _EXT:
        raise ApiError(415, "upload an .xlsx or .csv file", [field_error("file", "must be .xlsx or .csv", "应为 .xlsx 或 .csv 文件")])
    job_id = uuid.uuid4().hex
    JOBS_ROOT.mkdir(parents=True, exist_ok=True, mode=0o700)
    d = JOBS_ROOT / job_id
    d.mkdir(mode=0o700)
    inp = d / f"input{suffix}"
    size = 0
    with inp.open("wb") as out:
        while True:
            chunk = await upload.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                shutil.rmtree(d, ignore_errors=True)
                raise ApiError(413, f"file larger than {MAX_UPLOAD_BYTES} bytes",
                               [field_error("file", f"larger than {MAX_UPLOAD_BYTES} bytes", "文件过大")])
            out.write(chunk)
    try:
        rows = check_upload(inp, suffix)
    except UploadRejected as e:
        shutil.rmtree(d, ignore_errors=True)
        raise ApiError(e.status, e.detail, [field_error("file", e.detail, e.detail_zh)]) from None
    job = Job(job_id, name, as_of, mode, lang, d, inp, total=rows or None, kind=kind, target=target, horizon=horizon)
    job.save()
    with _lock:
        _jobs[job_id] = job
        _local.add(job_id)
        _evict()
    _pool.submit(_run, job)
    return job


def _evict() -> None:
    """Keep the newest MAX_JOBS finished jobs (on disk, whichever process made them)."""
    try:
        dirs = [p for p in JOBS_ROOT.iterdir() if p.is_dir() and re.fullmatch(r"[0-9a-f]{32}", p.name)]
    except OSError:
        return
    if len(dirs) <= MAX_JOBS:
        return
    dirs.sort(key=lambda p: p.stat().st_mtime)
    for p in dirs[: len(dirs) - MAX_JOBS]:
        try:
            st = json.loads((p / "status.json").read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError):
            st = "failed"
        if st in ("done", "failed"):
            shutil.rmtree(p, ignore_errors=True)
            _jobs.pop(p.name, None)


POOL_PLAN_LIMIT = 50  # pool jobs: exact plans for the nearest firms (the others: bounds, proofs, estimates)
POOL_SECONDS = 60.0  # pool jobs: time budget of the exact plans


def _run_pool(job: Job, out: Path) -> dict:
    """A cultivation-pool job: the ranked pool file and a summary (counts by cost kind and by number
    of failing conditions)."""
    from srdi.planner.pool import plan_pool, write_pool

    res = plan_pool(str(job.input_path), job.as_of, job.target, job.mode, job.horizon, None, job.lang,
                    plan_limit=POOL_PLAN_LIMIT, time_budget=POOL_SECONDS)
    write_pool(res, str(out), job.lang)
    job.done = job.total = res.height

    def counts(col: str) -> dict:
        vc = res[col].value_counts().sort(col)
        return {str(k): int(v) for k, v in zip(vc[col].to_list(), vc["count"].to_list())}

    return {"kind": "pool", "target": job.target, "horizon": job.horizon, "firms": res.height,
            "passing_now": int(res["passes_now"].fill_null(False).sum()), "by_cost_kind": counts("cost_kind"),
            "by_failing_conditions": counts("failing_conditions")}


def _run(job: Job) -> None:
    job.status = "running"
    job.save()
    try:
        if job.kind == "pool":
            out = job.dir / f"result{job.input_path.suffix}"
            summary = _run_pool(job, out)
            job.output_path = out
            job.summary = summary
            job.status = "done"
            return
        from srdi.batch import run_batch

        out = job.dir / f"result{job.input_path.suffix}"

        def progress(done=None, total=None, *args, **kwargs):
            if isinstance(done, (int, float)):
                job.done = int(done)
            if isinstance(total, (int, float)) and total:
                job.total = int(total)
            job.save(force=False)

        summary = run_batch(str(job.input_path), str(out), job.as_of, mode=job.mode, mapping=None, lang=job.lang,
                            progress=progress)
        if not out.exists():  # the batch module may choose its own output name
            cands = [p for p in job.dir.iterdir() if p.name.startswith("result")]
            out = cands[0] if cands else out
        job.output_path = out
        job.summary = _public_summary(_jsonable(summary), job.dir)
        job.status = "done"
    except Exception as e:  # noqa: BLE001 - a failed job is reported, never raised
        job.error = f"{type(e).__name__}: {str(e)[:300]}".replace(str(job.dir), "…")
        job.status = "failed"
    finally:
        try:
            job.save()
        except OSError:
            pass
        _local.discard(job.id)


def _public_summary(summary: Any, workdir: Path) -> Any:
    """The batch summary without server file paths."""
    if not isinstance(summary, dict):
        return summary
    return {k: v for k, v in summary.items()
            if not (isinstance(v, str) and (v.startswith(str(workdir)) or k in ("output", "errors_file", "summary_file")))}


def _jsonable(obj: Any) -> Any:
    import json

    try:
        return json.loads(json.dumps(obj, default=str))
    except (TypeError, ValueError):
        return {"summary": str(obj)[:2000]}
