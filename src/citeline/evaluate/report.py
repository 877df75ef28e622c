"""Self-contained HTML (inline SVG, no scripts, no external files) and JSON reports of a run.

Plots: a forest plot of every metric's interval (of the paired difference when a second run is
given), per-example score distributions, the coverage–accuracy curve of the decline threshold,
and judge-vs-human scores from the latest calibration. The web UI shows the same report.
"""

from __future__ import annotations

import html
import math

import numpy as np

from citeline.evaluate.runner import RunData
from citeline.evaluate.stats import fmt

W = 640
UNIT = ("latency_ms", "cost_usd")  # not on a 0–1 (or 1–5) scale: table only
JUDGES = ("correctness", "faithfulness")
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:980px;padding:0 1rem;color:#1d2433}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #eef;text-align:right}
td:first-child,th:first-child{text-align:left}.muted{color:#667}.bad{color:#b3261e}.good{color:#1b6e3a}
svg{max-width:100%;height:auto}td.l{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:1rem}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def forest(rows: list[tuple[str, float, float, float]], *, zero: float | None, title: str) -> str:
    """rows: (label, estimate, low, high); one shared axis; a reference line at ``zero``."""
    rows = [r for r in rows if all(math.isfinite(x) for x in r[1:])]
    if not rows:
        return ""
    lo = min(min(r[2] for r in rows), zero if zero is not None else math.inf)
    hi = max(max(r[3] for r in rows), zero if zero is not None else -math.inf)
    pad = (hi - lo) * 0.08 or 0.05
    lo, hi = lo - pad, hi + pad
    left, right, row_h = 190, W - 20, 26
    height = 40 + row_h * len(rows)

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    parts = [f'<svg viewBox="0 0 {W} {height}" role="img" aria-label="{_e(title)}" xmlns="http://www.w3.org/2000/svg">']
    if zero is not None:
        parts.append(f'<line x1="{x(zero):.1f}" y1="8" x2="{x(zero):.1f}" y2="{height - 24}" stroke="#99a" '
                     'stroke-dasharray="4 3"/>')
    for i, (label, est, a, b) in enumerate(rows):
        y = 22 + i * row_h
        color = "#1d2433" if zero is None or a <= zero <= b else "#b3261e" if est < zero else "#1b6e3a"
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="12">{_e(label)}</text>')
        parts.append(f'<line x1="{x(a):.1f}" y1="{y}" x2="{x(b):.1f}" y2="{y}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<circle cx="{x(est):.1f}" cy="{y}" r="4" fill="{color}"><title>{_e(label)}: {fmt(est)} '
                     f'[{fmt(a)}, {fmt(b)}]</title></circle>')
    for v in np.linspace(lo + pad, hi - pad, 5):
        parts.append(f'<text x="{x(v):.1f}" y="{height - 8}" text-anchor="middle" font-size="11" fill="#667">'
                     f'{v:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(values: list[float], label: str, *, bins: int = 10, scale: tuple[float, float] = (0, 1)) -> str:
    if not values:
        return ""
    w, h = 200, 110
    counts, edges = np.histogram(np.clip(values, *scale), bins=bins, range=scale)
    top = max(int(counts.max()), 1)
    bw = (w - 20) / bins
    parts = [f'<svg viewBox="0 0 {w} {h + 30}" width="{w}" role="img" aria-label="distribution of {_e(label)}" '
             'xmlns="http://www.w3.org/2000/svg">', f'<text x="10" y="12" font-size="12">{_e(label)} '
             f'(n={len(values)})</text>']
    for i, c in enumerate(counts):
        bh = (h - 30) * c / top
        parts.append(f'<rect x="{10 + i * bw:.1f}" y="{h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                     f'fill="#4a6fa5"><title>{edges[i]:.2f}–{edges[i + 1]:.2f}: {c}</title></rect>')
    parts.append(f'<text x="10" y="{h + 16}" font-size="10" fill="#667">{scale[0]:g}</text>'
                 f'<text x="{w - 10}" y="{h + 16}" font-size="10" fill="#667" text-anchor="end">{scale[1]:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def coverage_curve(data: RunData) -> tuple[str, list[dict]]:
    """Answered share vs. share of answered questions that are answerable, as the threshold moves
    over the stored confidences (declines at any threshold above a question's confidence)."""
    pts = [(o.get("confidence") or 0.0, not o.get("should_decline")) for o in data.outputs.values()
           if o.get("should_decline") is not None]
    if len(pts) < 2:
        return "", []
    conf = np.array([p[0] for p in pts])
    good = np.array([p[1] for p in pts])
    curve = []
    for t in sorted(set(conf.tolist()) | {0.0}):
        ans = conf >= t
        if ans.sum() == 0:
            continue
        curve.append({"threshold": round(float(t), 4), "coverage": round(float(ans.mean()), 4),
                      "accuracy": round(float(good[ans].mean()), 4)})
    w, h, m = 360, 240, 36
    path = " ".join(f"{'M' if i == 0 else 'L'}{m + c['coverage'] * (w - 2 * m):.1f},"
                    f"{h - m - c['accuracy'] * (h - 2 * m):.1f}" for i, c in enumerate(sorted(curve, key=lambda c: c['coverage'])))
    svg = (f'<svg viewBox="0 0 {w} {h}" width="{w}" role="img" aria-label="coverage-accuracy curve" '
           f'xmlns="http://www.w3.org/2000/svg"><rect x="{m}" y="{m}" width="{w - 2 * m}" height="{h - 2 * m}" '
           f'fill="none" stroke="#dde"/><path d="{path}" fill="none" stroke="#4a6fa5" stroke-width="2"/>'
           f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle" font-size="11">coverage (share answered)</text>'
           f'<text x="12" y="{h / 2}" font-size="11" transform="rotate(-90 12 {h / 2})" text-anchor="middle">'
           'answered that were answerable</text></svg>')
    return svg, curve


def scatter(pairs: list[tuple[float, float]]) -> str:
    if not pairs:
        return ""
    w, h, m = 300, 260, 36
    rng = np.random.default_rng(0)

    def pos(v: float, span: float) -> float:
        return m + (v - 1) / 4 * (span - 2 * m)

    dots = []
    for j, hu in pairs:
        dx, dy = rng.uniform(-0.15, 0.15, 2)
        dots.append(f'<circle cx="{pos(j + dx, w):.1f}" cy="{h - pos(hu + dy, h):.1f}" r="3" fill="#4a6fa5" '
                    'fill-opacity="0.5"/>')
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" role="img" aria-label="judge versus human scores" '
            f'xmlns="http://www.w3.org/2000/svg"><line x1="{pos(1, w)}" y1="{h - pos(1, h)}" x2="{pos(5, w)}" '
            f'y2="{h - pos(5, h)}" stroke="#99a" stroke-dasharray="4 3"/>{"".join(dots)}'
            f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle" font-size="11">judge score</text>'
            f'<text x="12" y="{h / 2}" font-size="11" transform="rotate(-90 12 {h / 2})" text-anchor="middle">'
            'human score</text></svg>')


def report_json(data: RunData, comparison=None, calibration: dict | None = None) -> dict:
    _, curve = coverage_curve(data)
    return {"run": data.record.to_json(), "coverage_accuracy": curve,
            "comparison": [c.to_json() for c in comparison] if comparison else None,
            "calibration": calibration}


def render(data: RunData, *, comparison=None, other: RunData | None = None, calibration: dict | None = None,
           nonce: str | None = None) -> str:
    """The whole report as one HTML document; ``nonce`` marks the inline style for a strict CSP."""
    r, s = data.record, data.record.summary
    metrics = s.get("metrics", {})
    out = [f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
           f"content='width=device-width,initial-scale=1'><title>citeline eval {_e(r.id)}</title>"
           f"<style{f' nonce={_e(nonce)}' if nonce else ''}>{CSS}</style></head><body>",
           f"<h1>Evaluation run {_e(r.id)}</h1><p class=muted>dataset {_e(r.dataset_name)} ({_e(r.dataset_hash)}) · "
           f"{s.get('n_examples', 0)} examples{f' × {r.repeats} repeats' if r.repeats > 1 else ''} · config "
           f"{_e(r.config_hash)} · {_e(r.label)} · {_e(r.created_at[:19])} · {_e(r.status)}</p>"]
    out.append("<h2>Metrics (mean, 95% interval)</h2><table><tr><th>metric</th><th>mean</th><th>95% interval</th>"
               "<th>n</th></tr>")
    for name, m in metrics.items():
        out.append(f"<tr><td>{_e(name)} {'↑' if m.get('higher_is_better', True) else '↓'}</td><td>{fmt(m['value'])}"
                   f"</td><td>[{fmt(m['low'])}, {fmt(m['high'])}]</td><td>{m['n']}</td></tr>")
    for key in ("precision", "recall"):
        d = s.get("decline", {}).get(key)
        if d:
            out.append(f"<tr><td>decline {key} ↑</td><td>{fmt(d['value'])}</td><td>[{fmt(d['low'])}, {fmt(d['high'])}]"
                       f"</td><td>{d['n']}</td></tr>")
    out.append("</table>")
    for name, n in s.get("unscored", {}).items():
        out.append(f"<p class=bad>{_e(name)}: {n} judge replies could not be parsed and are not scored.</p>")
    if comparison:
        out.append(f"<h2>Paired difference vs {_e(other.record.id if other else '')} (this − other, 95% interval)"
                   "</h2><table><tr><th>metric</th><th>n</th><th>this</th><th>other</th><th>difference</th>"
                   "<th>95% interval</th><th>p (Holm)</th><th>better/worse</th><th>MDE</th></tr>")
        for c in comparison:
            cls = "" if not c.significant else ("good" if (c.diff > 0) == c.higher_is_better else "bad")
            out.append(f"<tr class='{cls}'><td>{_e(c.metric)}</td><td>{c.n}</td><td>{fmt(c.b)}</td><td>{fmt(c.a)}</td>"
                       f"<td>{c.diff:+.3f}</td><td>[{fmt(c.low)}, {fmt(c.high)}]</td><td>{fmt(c.p_holm)}</td>"
                       f"<td>{c.better}/{c.worse}</td><td>{fmt(c.mde)}</td></tr>")
        out.append("</table>")
        out.append(forest([(c.metric, c.diff, c.low, c.high) for c in comparison if c.metric not in UNIT + JUDGES],
                          zero=0.0, title="paired differences"))
    else:
        out.append(forest([(k, m["value"], m["low"], m["high"]) for k, m in metrics.items() if k not in UNIT + JUDGES],
                          zero=None, title="metric intervals"))
    out.append("<h2>Score distributions (per example)</h2><div class=grid>")
    for name in data.metrics:
        if name in UNIT:
            continue
        vals = list(data.per_example(name).values())
        out.append(histogram(vals, name, bins=5 if name in JUDGES else 10,
                             scale=(1, 5) if name in JUDGES else (0, 1)))
    out.append("</div>")
    svg, curve = coverage_curve(data)
    if svg:
        out.append("<h2>Coverage–accuracy as the decline threshold moves</h2>" + svg +
                   "<p class=muted>Each point is a threshold on the answer confidence: questions below it are "
                   "declined. Accuracy is the share of answered questions that the dataset marks answerable.</p>")
    if calibration:
        st = calibration["stats"]
        out.append(f"<h2>Judge {_e(calibration['judge'])} vs people ({calibration['n']} labels, calibration "
                   f"{_e(calibration['id'])})</h2>" + scatter([tuple(p) for p in calibration.get("pairs", [])]) +
                   "<table><tr><th>agreement</th><th>value</th><th>95% interval</th></tr>" +
                   "".join(f"<tr><td>{_e(k)}</td><td>{fmt(v['value'])}</td><td>[{fmt(v['low'])}, {fmt(v['high'])}]</td>"
                           f"</tr>" for k, v in st.items() if isinstance(v, dict)) + "</table>" +
                   ("<p class=good>trusted</p>" if calibration["trusted"] else
                    "<p class=bad>agreement too low to trust this judge</p>"))
    worst = sorted(((ex, v) for ex, v in data.per_example("decision_correct").items() if v < 1))[:50]
    if worst:
        out.append("<h2>Wrong decisions</h2><table><tr><th>example</th><th>decision</th><th>should decline</th>"
                   "<th>answer</th></tr>")
        for ex, _ in worst:
            o = data.outputs.get(ex, {})
            out.append(f"<tr><td>{_e(ex)}</td><td>{_e(o.get('decision'))}</td><td>{_e(o.get('should_decline'))}</td>"
                       f"<td class=l>{_e((o.get('answer') or '')[:200])}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "".join(out)
