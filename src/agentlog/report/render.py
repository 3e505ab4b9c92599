"""The weekly report as self-contained HTML, Markdown, JSON, and a short chat headline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..store import modes
from ..store.atomic import replace_file

from .. import formatting as fmt
from .build import Report, day_label
from .charts import report_charts

FORMATS = ("html", "md", "json")
EARLY_NOTE = (
    "In time: the failed run went on spending after the alert; unspent is what it spent after its "
    "first alert (what stopping there would have saved, or for succeeded runs, cost)."
)


def render_html(report: Report) -> str:
    from ..web.templating import render, static_text

    return render(
        "report.html",
        r=report,
        charts=report_charts(report),
        css=static_text("agentlog.css"),
        trend=_trend_text,
        early_note=EARLY_NOTE,
    )


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


def render_markdown(report: Report) -> str:
    t = report.totals
    out = [
        f"# {report.title}",
        "",
        f"Period: {day_label(report.since)} to {day_label(report.until - 1)} ({report.days} days, UTC), "
        f"compared with the {report.days} days before.",
        "",
        "## Totals",
        "",
        "| figure | this period | change |",
        "|---|---:|---:|",
    ]
    for key, label, show in _FIGURES:
        out.append(f"| {label} | {show(t.get(key))} | {_trend_text(report, key)} |")
    out += ["", "## Recommendations", ""]
    out += [
        f"- **{r.severity}**: " + "".join(md_code(text) if code else md_text(text) for text, code in r.segments())
        for r in report.recommendations
    ]
    out += ["", "## Advice (dollars per week)", ""]
    if report.advice:
        out += ["| finding | per week | confidence | guard | action |", "|---|---:|---|---|---|"]
        out += [
            f"| {md_text(a['title'])} | {fmt.money(a['usd_per_week'])} | {a['confidence']} | "
            f"{md_text(a['guard'] or '-')} | {md_text(a['action'])} |"
            for a in report.advice
        ]
    else:
        out.append("Nothing to advise in this period.")
    out += ["", "## Early warnings", ""]
    if report.warnings:
        out += [
            "| alert | sessions | failed runs alerted | in time | unspent at the first alert (failed) "
            "| succeeded runs alerted | unspent (succeeded) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        out += [
            f"| {w['type']} | {w['sessions']} | {w['failed']} of {w['failed_total']} | {w['in_time']} | "
            f"{fmt.money(w['unspent_failed_usd'])} | {w['succeeded']} | {fmt.money(w['unspent_succeeded_usd'])} |"
            for w in report.warnings
        ]
        out.append("")
        out.append(EARLY_NOTE)
    else:
        out.append("No failure-risk or session-anomaly alerts in this period.")
    out += ["", "## By executor", ""] + _md_table(report.executors, "executor")
    out += ["", "## By model", ""] + _md_table(report.models, "model")
    out += ["", "## Top error templates", ""]
    if report.top_errors:
        out += ["| occurrences | fingerprint | template | categories |", "|---:|---|---|---|"]
        out += [
            f"| {c['occurrences']} | {md_text(c['fingerprint'])} | {md_text(fmt.clip(c['template'], 140))} | "
            f"{md_text(', '.join(c.get('categories') or []))} |"
            for c in report.top_errors
        ]
    else:
        out.append("No errors in this period.")
    out += ["", "## Planning insights", ""]
    for task in report.insights:
        out.append(
            f"- **{md_text(task['task_title'] or task['task_id'])}** ({task['failed_attempts']} failed of "
            f"{task['attempts']} attempts): " + "; ".join(md_text(i) for i in task["insights"] or ["no rule matched"])
        )
    if not report.insights:
        out.append("No unsolved tasks with failed attempts.")
    return "\n".join(out) + "\n"


def report_text(report: Report) -> str:
    """The headline for a chat message (Telegram, Slack): a few lines, no markup."""
    t = report.totals
    lines = [
        f"📊 {report.title}",
        f"{t['sessions']} sessions ({_trend_text(report, 'sessions')}), success {fmt.percent(t['success_pct'])} "
        f"({_trend_text(report, 'success_pct')}), cost {fmt.money(t['cost_usd'])} "
        f"({_trend_text(report, 'cost_usd')}), {t['errors']} errors, {fmt.number(t['agent_hours'])} agent hours",
    ]
    if report.top_errors:
        top = report.top_errors[0]
        lines.append(f"Top error: {top['fingerprint']} ({top['occurrences']}x)")
    lines += [f"• {r.text}" for r in report.recommendations[:3]]
    return "\n".join(lines)


def write_report(report: Report, out_dir: Path | str, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    """Write `agentlog-report-<last day>.<ext>` files; returns {format: path}."""
    out_dir = Path(out_dir)
    modes.make_dirs(out_dir)
    renderers = {"html": render_html, "md": render_markdown, "json": render_json}
    paths = {}
    for name in formats:
        path = out_dir / f"agentlog-report-{day_label(report.until - 1)}.{name}"
        # a reader (a sink attaching the file) never sees half a report
        replace_file(path, renderers[name](report).encode("utf-8"), durable=False)
        paths[name] = path
    return paths


_FIGURES = (
    ("sessions", "Sessions", lambda v: fmt.count(v)),
    ("completed", "Completed", lambda v: fmt.count(v)),
    ("success_pct", "Success rate", fmt.percent),
    ("cost_usd", "Cost", fmt.money),
    ("cost_per_session", "Cost per session", fmt.money),
    ("errors", "Errors", lambda v: fmt.count(v)),
    ("errors_per_session", "Errors per session", fmt.number),
    ("agent_hours", "Agent hours", fmt.number),
)


def _trend_text(report: Report, key: str) -> str:
    delta = report.trend(key)
    if delta is None:
        return "n/a"
    if key == "success_pct":
        return f"{delta:+.0f} pts"
    before = report.previous.get(key)
    if not before:
        return "new" if delta else "±0"
    return f"{100 * delta / before:+.0f}%"


# What could make recorded text act as Markdown: emphasis, code, links and images, raw
# HTML and entities, table cells, headings, strikethrough. Escaped with a backslash, which
# CommonMark allows before any ASCII punctuation: shown as written, never as an entity.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>&|!#~])")


def md_text(text: Any) -> str:
    """Recorded text as literal Markdown prose on one line: a task title's link, image or
    HTML shows as the characters it is made of."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split("\n")))


def md_code(text: Any) -> str:
    """Text as a Markdown code span, fenced by more backticks than it holds (escapes do
    not work inside a code span: they would show)."""
    text = " ".join(str(text).split("\n"))
    if not text:
        return ""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    # A space must part a backtick at either end from the fence, and CommonMark strips one
    # space from each side when both have one: padded, what it strips is ours.
    pad = " " if "`" in (text[0], text[-1]) or (text[0] == text[-1] == " " and text.strip(" ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_table(rows: list[dict[str, Any]], key: str) -> list[str]:
    if not rows:
        return ["No sessions in this period."]
    out = [
        f"| {key} | sessions | success | avg cost | total cost | avg errors | top failure |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            f"| {md_text(r[key])} | {r['sessions']} | {fmt.percent(r['success_pct'])} | "
            f"{fmt.money(r.get('avg_cost_usd'))} | {fmt.money(r['total_cost_usd'])} | "
            f"{fmt.number(r.get('avg_errors'))} | "
            f"{md_text(r.get('top_failure') or '-')} |"
        )
    return out
