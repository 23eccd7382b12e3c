"""`srdi simulate`: how a rule change (a reform) moves a population between tiers.

A reform YAML overrides parameters of the resolved packs (docs/batch.md):

    name: SRDI R&D share 4%, pass line 65
    changes:
      - {pack: r2022.srdi_sme, node: rd_share, test: "rd_intensity[y-1] >= 4%"}
      - {pack: r2022.srdi_sme, pass_line: 65}
      - {pack: r2022.srdi_sme, node: main_business_share, bands: [[">= 80%", 5], [">= 60%", 3], [else, 0]]}
      - {local: "370000", node: sd_key_field, bands: [[local_indicators.key_field == both, 6], [else, 0]]}

Each resolved pack is deep-copied, the named nodes' tests / bands / pass line replaced (tests parsed
with srdi.engine.syntax.parse_test), and the tiers compiled with the engine's own Compiler over
Polars, evaluated in dependency stages as srdi.engine.assess.evaluate_table does. The baseline is
the unchanged engine. Output: gains and losses per tier, by province and by industry section, as a
text table and, with -o, an XLSX (tables + chart) or an HTML page (ECharts).
"""
from __future__ import annotations

import copy
import datetime as dt
import html
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from ..engine import blocks as _blocks
from ..engine import packs as _packs
from ..engine.measures import Ctx
from ..engine.ops import PolarsOps
from . import io
from .summary import TIER_EN, TIER_ZH


class ReformError(ValueError):
    pass


def load_reform(reform: Any) -> dict:
    import yaml

    if isinstance(reform, dict):
        data = reform
    else:
        p = Path(reform)
        if not p.exists():
            raise ReformError(f"--reform: file not found: {reform}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ReformError(f"--reform: not valid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("changes"), list) or not data["changes"]:
        raise ReformError("--reform: the YAML needs `changes:`, a list of {pack|local, node, test|bands|pass_line}")
    for i, ch in enumerate(data["changes"]):
        if not isinstance(ch, dict) or not (ch.get("pack") or ch.get("local")):
            raise ReformError(f"--reform: changes[{i}] needs `pack: <pack id>` or `local: <province code>`")
        if not ({"test", "bands", "pass_line", "max", "minimum"} & set(ch)):
            raise ReformError(f"--reform: changes[{i}] changes nothing (give test, bands, pass_line, max or minimum)")
        if ("test" in ch or "bands" in ch) and not ch.get("node"):
            raise ReformError(f"--reform: changes[{i}]: `node: <id>` says which condition or indicator to change")
    return data


def _apply_node(owner: str, nodes_lookup, ch: dict, i: int):
    from ..engine.syntax import RuleSyntaxError, parse_test

    try:
        xs, j = nodes_lookup(ch["node"])
    except _packs.RulePackError as e:
        raise ReformError(f"--reform: changes[{i}]: {e}") from None
    n = copy.copy(xs[j])
    try:
        if "test" in ch:
            if n.test is None:
                raise ReformError(f"--reform: changes[{i}]: {owner} node {ch['node']!r} has no test (it is a group or indicator)")
            n.test = parse_test(str(ch["test"]))
        if "bands" in ch:
            if n.bands is None:
                raise ReformError(f"--reform: changes[{i}]: {owner} node {ch['node']!r} has no bands")
            bands = []
            for b in ch["bands"]:
                if not isinstance(b, (list, tuple)) or len(b) != 2:
                    raise ReformError(f"--reform: changes[{i}]: each band is [condition, points]")
                bands.append((_packs._band_test(b[0], n.measure, f"reform changes[{i}]"), int(b[1])))
            n.bands = bands
    except (RuleSyntaxError, _packs.RulePackError) as e:
        raise ReformError(f"--reform: changes[{i}]: {e}") from None
    if "max" in ch:
        n.max = int(ch["max"])
    if "minimum" in ch:
        n.minimum = int(ch["minimum"])
    xs[j] = n


def reformed_pack(pack: _packs.Pack, changes: list[dict]) -> _packs.Pack:
    pack = copy.deepcopy(pack)
    for i, ch in enumerate(changes):
        if ch.get("pack") != pack.id:
            continue
        if "pass_line" in ch:
            if not pack.score:
                raise ReformError(f"--reform: changes[{i}]: {pack.id} is not scored")
            pack.score = dict(pack.score, pass_line=int(ch["pass_line"]))
        if ch.get("node"):
            _apply_node(pack.id, lambda nid: _packs._locate(pack, nid), ch, i)
    return pack


def reformed_local_packs(changes: list[dict]) -> dict:
    base = _packs.local_packs()
    out = {}
    for prov, lp in base.items():
        mine = [(i, c) for i, c in enumerate(changes) if str(c.get("local")) == prov]
        if not mine:
            out[prov] = lp
            continue
        lp = dict(lp, nodes=copy.deepcopy(lp["nodes"]))

        def find(nid, nodes=lp["nodes"]):
            for k, x in enumerate(nodes):
                if x.id == nid:
                    return nodes, k
            raise _packs.RulePackError(f"local pack {prov}: no indicator {nid!r}")

        for i, ch in mine:
            _apply_node(f"local {prov}", find, ch, i)
        out[prov] = lp
    unknown = {str(c["local"]) for c in changes if c.get("local")} - set(base)
    if unknown:
        raise ReformError(f"--reform: no 特色化 sheet is encoded for province {sorted(unknown)} (encoded: {sorted(base)})")
    return out


@contextmanager
def _patched(changes: list[dict]):
    """Sub-packs (alternatives) and local sheets are looked up by the Compiler: patch them."""
    orig_resolve, orig_local = _blocks.resolve_pack, _blocks.local_packs
    locals_ = reformed_local_packs(changes)
    _blocks.resolve_pack = lambda pid, year, mode: reformed_pack(orig_resolve(pid, year, mode), changes)
    _blocks.local_packs = lambda: locals_
    try:
        yield
    finally:
        _blocks.resolve_pack, _blocks.local_packs = orig_resolve, orig_local


def compile_reform(as_of: dt.date, mode: str, changes: list[dict]) -> tuple[dict, list[str]]:
    """Output expressions of every tier under the reform, and the tier ids."""
    choice = _packs.choose_regime(as_of, mode)
    known = {pid for pid, _, _ in choice.tiers.values()}
    for i, ch in enumerate(changes):
        if ch.get("pack") and ch["pack"] not in known and ch["pack"] not in _packs.PACK_FILES:
            raise ReformError(f"--reform: changes[{i}]: unknown pack {ch['pack']!r}")
    ctx = Ctx(as_of=as_of, mode=mode)
    comp = _blocks.Compiler(PolarsOps(), ctx)
    tiers = []
    with _patched(changes):
        for tier, (pack_id, _regime, _why) in choice.tiers.items():
            pack = _blocks.resolve_pack(pack_id, as_of.year, mode)
            comp.tier(pack, tier)
            tiers.append(tier)
    return comp.out, tiers, ctx


def evaluate_outputs(df: pl.DataFrame, out: dict, ctx: Ctx, keys: list[str]) -> pl.DataFrame:
    """Staged evaluation of compiled outputs (as srdi.engine.assess.evaluate_table)."""
    from ..engine.frame import conform

    level: dict[str, int] = {}

    def lv(k):
        if k not in level:
            deps = [n for n in out[k].meta.root_names() if n in out]
            level[k] = 1 + max((lv(d) for d in deps), default=-1)
        return level[k]

    need: set[str] = set()
    stack = list(keys)
    while stack:
        k = stack.pop()
        if k in need:
            continue
        need.add(k)
        stack.extend(n for n in out[k].meta.root_names() if n in out)
    inputs = []
    for k in need:
        for nme in out[k].meta.root_names():
            if nme not in out and nme not in inputs:
                inputs.append(nme)
    lf = conform(df, inputs, ctx.local_kinds).lazy()
    stages: dict[int, list[str]] = {}
    for k in need:
        stages.setdefault(lv(k), []).append(k)
    for i in sorted(stages):
        lf = lf.with_columns([out[k].alias(k) for k in stages[i]])
    return lf.select(keys).collect()


def run_simulation(population, reform, as_of: dt.date, mode: str = "application", output=None, mapping=None,
                   lang: str = "zh", chunk_size: int = 500_000) -> dict:
    from ..engine.assess import evaluate_table
    from .runner import BatchError, prepare

    data = load_reform(reform)
    changes = data["changes"]
    out, tiers, ctx = compile_reform(as_of, mode, changes)
    try:
        specs, _ = prepare(population, as_of, mode, mapping)
    except BatchError as e:
        raise ReformError(str(e)) from None
    keys = [f"{t}#ok" for t in tiers]
    parts = []
    for raw in io.read_chunks(population, chunk_size):
        frame = io.convert_chunk(raw, specs, lang).frame
        base = evaluate_table(frame, as_of, mode, keys=["#ok"]).select(keys)
        new = evaluate_outputs(frame, out, ctx, keys)
        ident = frame.select(
            (pl.col("province") if "province" in frame.columns else pl.lit(None, pl.String)).alias("province"),
            (pl.col("industry").str.slice(0, 1) if "industry" in frame.columns else pl.lit(None, pl.String)).alias("section"))
        cols = []
        for t in tiers:
            b, r = base.get_column(f"{t}#ok"), new.get_column(f"{t}#ok")
            cols += [pl.Series(f"{t}.base", b.fill_null(False)), pl.Series(f"{t}.gain", (~b.fill_null(False)) & r.fill_null(False)),
                     pl.Series(f"{t}.loss", b.fill_null(False) & ~r.fill_null(False))]
        df = pl.concat([ident, pl.DataFrame(cols)], how="horizontal")
        parts.append(df.group_by(["province", "section"]).agg(pl.len().alias("n"), *[pl.col(c).sum() for c in df.columns[2:]]))
    agg = pl.concat(parts).group_by(["province", "section"]).agg(pl.all().sum())

    def table(by: list[str]) -> pl.DataFrame:
        rows = []
        g = agg.group_by(by).agg(pl.all().exclude(["province", "section"]).sum()) if by else \
            agg.select(pl.all().exclude(["province", "section"]).sum())
        for t in tiers:
            rows.append(g.select(*[pl.col(c) for c in by], pl.lit(t).alias("tier"), pl.col("n"),
                                 pl.col(f"{t}.base").alias("pass_before"), pl.col(f"{t}.gain").alias("gain"),
                                 pl.col(f"{t}.loss").alias("loss"))
                        .with_columns((pl.col("pass_before") + pl.col("gain") - pl.col("loss")).alias("pass_after")))
        order = {t: i for i, t in enumerate(tiers)}
        return pl.concat(rows).with_columns(pl.col("tier").replace_strict(order, return_dtype=pl.Int64).alias("_o")) \
            .sort(by + ["_o"]).drop("_o")

    by_tier, by_prov, by_ind = table([]), table(["province"]), table(["section"])
    text = _text(data.get("name", "reform"), by_tier, lang)
    res = {"name": data.get("name"), "by_tier": by_tier.to_dicts(), "by_province": by_prov.to_dicts(),
           "by_industry": by_ind.to_dicts(), "text": text}
    if output:
        ext = Path(output).suffix.lower()
        if ext == ".xlsx":
            _write_xlsx(output, data.get("name", "reform"), by_tier, by_prov, by_ind, lang)
        elif ext in (".html", ".htm"):
            _write_html(output, data.get("name", "reform"), by_tier, by_prov, by_ind, lang)
        else:
            raise ReformError(f"-o {output}: use .xlsx or .html")
        res["output"] = str(output)
    return res


def _tn(t: str, lang: str) -> str:
    return (TIER_ZH if lang == "zh" else TIER_EN).get(t, t)


def _text(name: str, by_tier: pl.DataFrame, lang: str) -> str:
    zh = lang == "zh"
    head = ["层级", "企业数", "原通过", "新增通过", "不再通过", "改革后通过"] if zh else \
        ["tier", "n", "pass before", "gain", "loss", "pass after"]
    lines = [f"{'改革' if zh else 'reform'}: {name}", "\t".join(head)]
    for r in by_tier.iter_rows(named=True):
        lines.append("\t".join(str(x) for x in (_tn(r["tier"], lang), r["n"], r["pass_before"], r["gain"], r["loss"], r["pass_after"])))
    return "\n".join(lines)


def _prov_name(code, lang):
    from ..profile.codes import PROVINCES

    v = PROVINCES.get(code or "")
    return (v[0] if lang == "zh" else v[1]) if v else (code or "?")


def _write_xlsx(path, name, by_tier, by_prov, by_ind, lang):
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    zh = lang == "zh"
    tmp, commit = io.atomic_target(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "by_tier"
    ws.append([name])
    ws.append(["层级" if zh else "tier", "企业数" if zh else "n", "原通过" if zh else "pass before",
               "新增通过" if zh else "gain", "不再通过" if zh else "loss", "改革后通过" if zh else "pass after"])
    for r in by_tier.iter_rows(named=True):
        ws.append([_tn(r["tier"], lang), r["n"], r["pass_before"], r["gain"], r["loss"], r["pass_after"]])
    ch = BarChart()
    ch.title = "各层级增减" if zh else "Gains and losses by tier"
    ch.add_data(Reference(ws, min_col=4, max_col=5, min_row=2, max_row=2 + by_tier.height), titles_from_data=True)
    ch.set_categories(Reference(ws, min_col=1, min_row=3, max_row=2 + by_tier.height))
    ws.add_chart(ch, "H2")
    for title, df, key in (("by_province", by_prov, "province"), ("by_industry", by_ind, "section")):
        s = wb.create_sheet(title)
        s.append([key, "tier", "n", "pass_before", "gain", "loss", "pass_after"])
        for r in df.iter_rows(named=True):
            s.append([_prov_name(r[key], lang) if key == "province" else r[key], _tn(r["tier"], lang), r["n"],
                      r["pass_before"], r["gain"], r["loss"], r["pass_after"]])
    wb.save(tmp)
    commit()


def _write_html(path, name, by_tier, by_prov, by_ind, lang):
    from importlib import resources

    zh = lang == "zh"
    try:
        echarts = resources.files("srdi.web").joinpath("static/vendor/echarts.min.js").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover
        echarts = ""
    tiers = [_tn(t, lang) for t in by_tier["tier"]]
    prov = by_prov.with_columns(pl.col("province").map_elements(lambda c: _prov_name(c, lang), return_dtype=pl.String))
    series = []
    for t in by_tier["tier"]:
        sub = prov.filter(pl.col("tier") == t)
        series.append({"tier": _tn(t, lang), "provinces": sub["province"].to_list(), "gain": sub["gain"].to_list(),
                       "loss": [-x for x in sub["loss"].to_list()]})
    rows = "".join(f"<tr><td>{html.escape(_tn(r['tier'], lang))}</td><td>{r['n']}</td><td>{r['pass_before']}</td>"
                   f"<td>+{r['gain']}</td><td>-{r['loss']}</td><td>{r['pass_after']}</td></tr>" for r in by_tier.iter_rows(named=True))
    ind_rows = "".join(f"<tr><td>{html.escape(str(r['section']))}</td><td>{html.escape(_tn(r['tier'], lang))}</td><td>{r['n']}</td>"
                       f"<td>+{r['gain']}</td><td>-{r['loss']}</td></tr>" for r in by_ind.iter_rows(named=True))
    head = ("层级", "企业数", "原通过", "新增", "减少", "改革后") if zh else ("tier", "n", "before", "gain", "loss", "after")
    doc = f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(str(name))}</title>
<script>{echarts}</script><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style></head>
<body><h1>{html.escape(str(name))}</h1>
<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{rows}</table>
<div id="tiers" style="width:900px;height:320px"></div><div id="prov"></div>
<h2>{'按行业门类' if zh else 'By industry section'}</h2><table>{ind_rows}</table>
<script>
const T={json.dumps(tiers, ensure_ascii=False)}, B={json.dumps(by_tier.select('gain', 'loss').to_dicts())}, S={json.dumps(series, ensure_ascii=False)};
if (window.echarts) {{
 echarts.init(document.getElementById('tiers')).setOption({{tooltip:{{}},legend:{{}},xAxis:{{data:T}},yAxis:{{}},
  series:[{{name:'{'新增' if zh else 'gain'}',type:'bar',data:B.map(x=>x.gain)}},{{name:'{'减少' if zh else 'loss'}',type:'bar',data:B.map(x=>-x.loss)}}]}});
 const root=document.getElementById('prov');
 S.forEach((s,i)=>{{const d=document.createElement('div');d.style='width:1100px;height:360px';root.appendChild(d);
  echarts.init(d).setOption({{title:{{text:s.tier}},tooltip:{{}},legend:{{}},xAxis:{{data:s.provinces,axisLabel:{{rotate:60}}}},yAxis:{{}},
   series:[{{name:'{'新增' if zh else 'gain'}',type:'bar',stack:'x',data:s.gain}},{{name:'{'减少' if zh else 'loss'}',type:'bar',stack:'x',data:s.loss}}]}});}});
}}
</script></body></html>"""
    tmp, commit = io.atomic_target(path)
    Path(tmp).write_text(doc, encoding="utf-8")
    commit()
