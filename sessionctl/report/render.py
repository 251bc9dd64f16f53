"""View model -> HTML pages. Self-contained: inline CSS and JS, no fonts, images or CDN.

Colour never stands alone: every card names its colour and what it means, every
timeline segment carries its text (visible when it fits, and as ``title`` and
``aria-label``), holds are striped and approximate items dashed, and the
journey is also listed as a table.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

from sessionctl.report.model import LANES, Report, Segment, SessionView

# Text on each fill keeps a contrast of at least 4.5:1 (WCAG AA).
CSS = """
:root { --ink:#111827; --muted:#374151; --line:#9ca3af; --page:#f3f4f6; }
* { box-sizing:border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--ink); background:var(--page); }
header.top { background:#1f2937; color:#fff; padding:14px 24px; }
header.top h1 { margin:0; font-size:20px; }
header.top p { margin:2px 0 0; color:#e5e7eb; font-size:13px; }
header.top a { color:#bfdbfe; }
main { padding:16px 24px 40px; }
.legend { display:flex; flex-wrap:wrap; gap:12px; margin:0 0 12px; padding:0; list-style:none; }
.legend li { display:flex; align-items:center; gap:6px; font-size:13px; }
.swatch { display:inline-block; width:14px; height:14px; border:2px solid #1f2937;
          border-radius:3px; flex:none; }
.swatch.blue { background:#1d4ed8; } .swatch.white { background:#fff; }
.swatch.gray { background:#6b7280; }
form.filters { display:flex; flex-wrap:wrap; gap:12px; align-items:end; margin:0 0 8px; }
form.filters label { display:flex; flex-direction:column; font-size:13px; font-weight:600; }
form.filters select, form.filters input { font:inherit; padding:4px 6px; min-width:160px; }
#shown { margin:4px 0 12px; font-size:14px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(270px,1fr)); gap:12px; }
.card { display:block; color:var(--ink); text-decoration:none; border-radius:8px;
        border:1px solid #6b7280; border-left-width:8px; padding:10px 12px; background:#fff; }
.card[hidden] { display:none; }
.card:hover, .card:focus { outline:3px solid #f59e0b; outline-offset:1px; }
.card.blue { background:#dbeafe; border-color:#1d4ed8; }
.card.white { background:#ffffff; border-color:#6b7280; border-left-color:#d1d5db; }
.card.gray { background:#e5e7eb; border-color:#4b5563; }
.card .top { display:flex; justify-content:space-between; align-items:center; gap:8px;
             font-size:12px; font-weight:700; text-transform:uppercase; letter-spacing:.03em; }
.card .colour { display:flex; align-items:center; gap:6px; }
.card .kind { display:flex; align-items:center; gap:4px; }
.card h2 { font-size:16px; margin:6px 0 2px; word-break:break-word; }
.card .meaning { font-size:12px; color:var(--muted); margin:0 0 6px; }
.card dl { display:grid; grid-template-columns:auto 1fr; gap:1px 10px; margin:0; font-size:13px; }
.card dt { color:var(--muted); } .card dd { margin:0; font-weight:600; word-break:break-word; }
.icon { width:18px; height:18px; }
.problems { background:#fef3c7; border:1px solid #92400e; padding:8px 12px; border-radius:6px; }
.layout { display:grid; grid-template-columns:minmax(0,2fr) minmax(300px,1fr); gap:20px; }
@media (max-width:900px) { .layout { grid-template-columns:1fr; } }
section.panel { background:#fff; border:1px solid #d1d5db; border-radius:8px; padding:12px 14px;
                margin-bottom:16px; }
section.panel h2 { font-size:16px; margin:0 0 8px; }
.timeline { position:relative; }
.lane { display:grid; grid-template-columns:110px 1fr; align-items:center; min-height:30px;
        border-bottom:1px dashed #e5e7eb; }
.lane-name { font-size:12px; font-weight:700; color:var(--muted); }
.track { position:relative; height:26px; }
.seg { position:absolute; top:3px; height:20px; min-width:2px; border-radius:3px; color:#fff;
       font-size:11px; line-height:20px; padding:0 4px; overflow:hidden; white-space:nowrap;
       text-overflow:ellipsis; border:1px solid rgba(0,0,0,.35); }
.seg.approx { border:2px dashed #111827; }
.seg.k-ivr { background:#6d28d9; } .seg.k-queue { background:#b45309; }
.seg.k-agent { background:#1d4ed8; } .seg.k-transfer { background:#0e7490; }
.seg.k-wrapup { background:#047857; }
.seg.k-hold { background:repeating-linear-gradient(45deg,#991b1b 0 6px,#7f1d1d 6px 12px); }
.pt { position:absolute; top:2px; width:0; height:22px; border-left:2px solid #111827; }
.pt span { position:absolute; top:2px; left:3px; font-size:10px; font-weight:700;
           background:#fff; border:1px solid #111827; border-radius:8px; padding:0 4px;
           line-height:14px; white-space:nowrap; color:#111827; text-decoration:none; }
.pt.k-end { border-left:3px solid #000; } .pt.k-version { border-left:3px solid #1d4ed8; }
.pt.k-late, .pt.approx { border-left-style:dashed; }
.pt.flip span { left:auto; right:3px; }
.axis { position:relative; height:18px; margin-left:110px; font-size:11px; color:var(--muted);
        border-top:1px solid var(--line); }
.axis .tick { position:absolute; top:0; height:5px; border-left:1px solid var(--line); }
.axis .tick span { position:absolute; top:4px; left:-12px; white-space:nowrap; }
.scale-note { font-size:12px; color:var(--muted); margin:4px 0 0; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:3px 6px; border-bottom:1px solid #e5e7eb; vertical-align:top; }
th { color:var(--muted); font-weight:600; }
ol.stream { list-style:none; padding:0; margin:0; }
ol.stream li { border-bottom:1px solid #e5e7eb; padding:6px 0; }
ol.stream .n { display:inline-block; min-width:22px; font-weight:700; }
ol.stream time { font-variant-numeric:tabular-nums; color:var(--muted); }
.badge { display:inline-block; font-size:11px; font-weight:700; border-radius:8px; padding:0 6px;
         border:1px solid #111827; }
.badge.late { background:#fef3c7; }
pre { white-space:pre-wrap; word-break:break-word; font-size:12px; background:#f9fafb;
      padding:6px; margin:4px 0 0; border:1px solid #e5e7eb; }
.warn { color:#92400e; font-size:13px; }
.card-head { max-width:520px; margin-bottom:16px; }
.visually-hidden { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); }
"""

FILTER_JS = """
(function () {
  var form = document.getElementById('filters');
  var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
  var shown = document.getElementById('shown');
  function apply() {
    var type = form.elements.type.value, status = form.elements.status.value;
    var colour = form.elements.colour.value, text = form.elements.text.value.toLowerCase();
    var count = 0;
    cards.forEach(function (card) {
      var ok = (!type || card.dataset.type === type || card.dataset.icon === type) &&
               (!status || card.dataset.status === status) &&
               (!colour || card.dataset.colour === colour) &&
               (!text || card.textContent.toLowerCase().indexOf(text) >= 0);
      card.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = 'Showing ' + count + ' of ' + cards.length + ' sessions';
  }
  form.addEventListener('input', apply);
  form.addEventListener('change', apply);
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  apply();
})();
"""

ICONS = {
    "call": '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" '
    'd="M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 '
    "1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 "
    '.7-.2 1z"/></svg>',
    "chat": '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path fill="currentColor" '
    'd="M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V5a2 2 0 0 1 2-2z"/></svg>',
}


def render_index(report: Report, *, source: str = "") -> str:
    by_colour = {
        c: sum(1 for s in report.sessions if s.colour == c) for c in ("blue", "white", "gray")
    }
    counts = ", ".join(f"{n} {c}" for c, n in by_colour.items() if n)
    types = report.choices("session_type")
    statuses = report.choices("status")
    body = [
        _top(
            "Sessions",
            f"{len(report.sessions)} sessions ({counts or 'none'})"
            + (f" — from {source}" if source else ""),
        ),
        "<main>",
        _legend(),
        '<form id="filters" class="filters" role="search" aria-label="Filter sessions">',
        _select("type", "Type", [("call", "Calls"), ("chat", "Chats")] + [(t, t) for t in types]),
        _select("status", "Status or wrap-up code", [(s, s) for s in statuses]),
        _select(
            "colour",
            "Colour",
            [
                ("blue", "Blue — active"),
                ("white", "White — abandoned"),
                ("gray", "Gray — inactive"),
            ],
        ),
        '<label>Search<input type="search" name="text" placeholder="id, agent, queue…"></label>',
        "</form>",
        '<p id="shown" role="status" aria-live="polite"></p>',
    ]
    if report.problems:
        body.append('<div class="problems"><strong>Files skipped:</strong><ul>')
        body += [f"<li>{escape(p)}</li>" for p in report.problems]
        body.append("</ul></div>")
    body.append('<div class="cards" id="cards">')
    body += [_card(view, href=f"sessions/{escape(view.slug)}.html") for view in report.sessions]
    body.append("</div>")
    if not report.sessions:
        body.append("<p>No session files found.</p>")
    body.append(f"</main><script>{FILTER_JS}</script>")
    return _page("Sessions", "\n".join(body))


def render_session(view: SessionView) -> str:
    body = [
        _top(view.title, '<a href="../index.html">← all sessions</a>'),
        "<main>",
        f'<div class="card-head">{_card(view, href=None)}</div>',
    ]
    body += [f'<p class="warn">⚠ {escape(w)}</p>' for w in view.warnings]
    body.append('<div class="layout"><div>')
    body.append(_timeline_panel(view))
    body.append(_journey_table(view))
    body.append(_facts_panel(view))
    body.append("</div>")
    body.append(_stream_panel(view))
    body.append("</div></main>")
    return _page(view.title, "\n".join(body))


# -- pieces -------------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _top(title: str, subtitle_html: str) -> str:
    return f'<header class="top"><h1>{escape(title)}</h1><p>{subtitle_html}</p></header>'


def _legend() -> str:
    items = [
        ("blue", "Blue: active — the session is in progress"),
        ("white", "White: abandoned — the customer ended it before a wrap-up code"),
        (
            "gray",
            "Gray: inactive — the session ended (a wrap-up code, if any, replaces the status)",
        ),
    ]
    lis = "".join(
        f'<li><span class="swatch {c}" aria-hidden="true"></span>{escape(t)}</li>' for c, t in items
    )
    return f'<ul class="legend" aria-label="What the card colours mean">{lis}</ul>'


def _select(name: str, label: str, options: list[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{escape(v)}">{escape(t)}</option>' for v, t in options)
    return f'<label>{escape(label)}<select name="{name}"><option value="">All</option>{opts}</select></label>'


def _card(view: SessionView, *, href: str | None) -> str:
    tag = "a" if href else "div"
    link = f' href="{href}"' if href else ""
    status_label = "Wrap-up code" if view.wrap_up_code else "Status"
    rows = [
        ("Duration", _clock(view.duration_seconds)),
        ("Queue", view.queue or "—"),
        ("Agent", view.agent or "—"),
        (status_label, view.status),
    ]
    if not view.has_file:
        rows.append(("File", "not written yet"))
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows)
    aria = "; ".join(
        [f"{view.title}", f"{view.colour} card: {view.meaning}"]
        + [f"{k.lower()} {v}" for k, v in rows]
    )
    return (
        f'<{tag} class="card {view.colour}"{link} data-session="{escape(view.session_id)}" '
        f'data-colour="{view.colour}" data-icon="{view.icon}" data-file="{str(view.has_file).lower()}" '
        f'data-type="{escape(view.session_type or "")}" data-status="{escape(view.status)}" '
        f'aria-label="{escape(aria)}">'
        f'<div class="top"><span class="colour"><span class="swatch {view.colour}" aria-hidden="true">'
        f"</span>{escape(view.colour.capitalize())} · {escape(view.colour_word)}</span>"
        f'<span class="kind">{ICONS[view.icon]}{escape(view.icon.capitalize())}</span></div>'
        f"<h2>{escape(view.title)}</h2>"
        f'<p class="meaning">{escape(view.meaning)}</p><dl>{dl}</dl></{tag}>'
    )


def _timeline_panel(view: SessionView) -> str:
    span = view.span
    out = ['<section class="panel" aria-labelledby="tl-h"><h2 id="tl-h">Timeline, to scale</h2>']
    if span is None:
        out.append("<p>The file has no times to draw.</p></section>")
        return "\n".join(out)
    out.append(_track_block("timeline", view.segments, span, stream_numbers=_numbers(view)))
    late = view.after_span
    if late and len(view.after_end) > 1:
        out.append("<h2>After the end: late events and versions</h2>")
        out.append(_track_block("after", view.after_end, late, stream_numbers=_numbers(view)))
    out.append("</section>")
    return "\n".join(out)


def _track_block(
    name: str, segments: list[Segment], span: tuple[datetime, datetime], *, stream_numbers: dict
) -> str:
    start, end = span
    total = max((end - start).total_seconds(), 1.0)
    lanes: dict[str, list[str]] = {}
    for seg in segments:
        left = (seg.start - start).total_seconds() / total * 100
        width = max(seg.seconds, 0) / total * 100
        when = _span_text(seg)
        lane = seg.kind if seg.kind in LANES else "version"
        text = f"{LANES.get(lane, 'Versions')}: {seg.label}, {when}"
        if seg.approximate:
            text += " (approximate)"
        if seg.detail:
            text += f" — {seg.detail}"
        common = (
            f'data-kind="{seg.kind}" data-start="{_ms(seg.start)}" data-end="{_ms(seg.end)}" '
            f'title="{escape(text)}" aria-label="{escape(text)}" role="img"'
        )
        approx = " approx" if seg.approximate else ""
        if seg.is_point:
            number = stream_numbers.get(seg.detail) if seg.kind == "stream" else None
            tag = f'<a href="#item-{number}">{number}</a>' if number else escape(_visible(seg))
            side = " flip" if left > 60 else ""
            lanes.setdefault(lane, []).append(
                f'<div class="pt k-{seg.kind}{approx}{side}" style="left:{left:.4f}%" {common}>'
                f"<span>{tag}</span></div>"
            )
        else:
            lanes.setdefault(lane, []).append(
                f'<div class="seg k-{seg.kind}{approx}" style="left:{left:.4f}%;width:{width:.4f}%" '
                f"{common}>{escape(_visible(seg))}</div>"
            )
    order = [k for k in LANES if k in lanes] + [k for k in lanes if k not in LANES]
    rows = [
        f'<div class="lane" data-lane="{k}"><span class="lane-name">{escape(LANES.get(k, "Versions"))}'
        f'</span><div class="track">{"".join(lanes[k])}</div></div>'
        for k in order
    ]
    axis = _axis(start, total)
    note = (
        f'<p class="scale-note">Scale: the whole width is {_duration(total)}, from '
        f"{start:%H:%M:%S} to {end:%H:%M:%S} (UTC{start:%z}). Dashed: position or time approximate."
        "</p>"
    )
    return (
        f'<div class="timeline" data-timeline="{name}" data-start="{_ms(start)}" '
        f'data-end="{_ms(end)}">{"".join(rows)}{axis}</div>{note}'
    )


def _axis(start: datetime, total: float) -> str:
    step = _nice_step(total)
    ticks = []
    t = 0.0
    while t <= total + 1e-6:
        ticks.append(
            f'<div class="tick" style="left:{t / total * 100:.4f}%"><span>+{_duration(t)}</span></div>'
        )
        t += step
    return f'<div class="axis" aria-hidden="true">{"".join(ticks)}</div>'


def _nice_step(total: float) -> float:
    for step in (
        1,
        2,
        5,
        10,
        15,
        30,
        60,
        120,
        300,
        600,
        900,
        1800,
        3600,
        7200,
        21600,
        43200,
        86400,
    ):
        if total / step <= 8:
            return float(step)
    return total / 8


def _journey_table(view: SessionView) -> str:
    rows = []
    for seg in view.segments + [s for s in view.after_end if s.kind != "end"]:
        if seg.kind == "stream":
            continue
        rows.append(
            f"<tr><td>{escape(LANES.get(seg.kind, 'Versions'))}</td><td>{escape(seg.label)}"
            f"{' <em>(approximate)</em>' if seg.approximate else ''}</td>"
            f"<td>{seg.start:%H:%M:%S}</td><td>{'' if seg.is_point else escape(_duration(seg.seconds))}</td></tr>"
        )
    return (
        '<section class="panel" aria-labelledby="j-h"><h2 id="j-h">Journey</h2>'
        "<table><thead><tr><th>What</th><th>Detail</th><th>At</th><th>For</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _facts_panel(view: SessionView) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in view.facts)
    raw = escape(json.dumps(view.metadata, indent=2, ensure_ascii=False))
    return (
        '<section class="panel" aria-labelledby="f-h"><h2 id="f-h">Facts from the file</h2>'
        f"<table>{rows}</table><details><summary>The whole metadata file</summary><pre>{raw}</pre>"
        "</details></section>"
    )


def _stream_panel(view: SessionView) -> str:
    items = []
    for n, item in enumerate(view.stream, start=1):
        when = f"<time>{item.at:%H:%M:%S}</time>" if item.at else "<time>?</time>"
        late = (
            ' <span class="badge late">late: in a later version</span>'
            if item.late
            else ' <span class="badge">after the end</span>'
            if item.after_end
            else ""
        )
        data = escape(json.dumps(item.data, indent=2, ensure_ascii=False, default=str))
        items.append(
            f'<li id="item-{n}" data-event="{escape(item.event_id)}"><span class="n">{n}</span>'
            f"{when} <strong>{escape(item.name)}</strong>{late}"
            f"<details><summary>data</summary><pre>{data}</pre></details></li>"
        )
    body = f'<ol class="stream">{"".join(items)}</ol>' if items else "<p>No data-stream items.</p>"
    return (
        '<aside><section class="panel" aria-labelledby="s-h">'
        f'<h2 id="s-h">Data stream ({len(view.stream)})</h2>{body}</section></aside>'
    )


# -- formatting ---------------------------------------------------------------------------


def _numbers(view: SessionView) -> dict[str, int]:
    return {item.event_id: n for n, item in enumerate(view.stream, start=1) if item.event_id}


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def _span_text(seg: Segment) -> str:
    if seg.is_point:
        return f"at {seg.start:%H:%M:%S}"
    return f"{seg.start:%H:%M:%S} to {seg.end:%H:%M:%S} ({_duration(seg.seconds)})"


def _duration(total: float) -> str:
    total = int(round(total))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    return f"{secs} s"


def _clock(total: Any) -> str:
    if not isinstance(total, int):
        return "--:--"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _visible(seg: Segment) -> str:
    """The text drawn on a segment (the full text is its title and aria-label)."""
    if seg.kind == "agent" or (seg.kind == "stream" and seg.is_point):
        return seg.label
    if seg.is_point:
        short = {"version": seg.label.split(" written")[0], "late": "last late event"}
        text = short.get(seg.kind, seg.label)
        return f"{text} ≈" if seg.approximate else text
    names = {"ivr": "IVR", "queue": "queue", "hold": "hold", "transfer": "transfer"}
    if seg.kind in names:
        return f"{names[seg.kind]} {_duration(seg.seconds)}"
    return seg.label
