"""Timeline chart of a cohort plan (matplotlib object API, rendered by Agg to PNG).

Sessions are horizontal bars (existing sessions used by the plan, and sessions to commission,
hatched), hiring dates are vertical lines, and a panel gives per need the ready-now, trained and
to-commission counts. French labels: the chart is handed to the business desk.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from matching.planning.cohort import CohortPlan
from matching.planning.paths import fr_date

EXISTING = "#3b7dd8"
COMMISSION = "#e8833a"
READY = "#3aa66a"
MAX_BARS = 40


def _short(text: str, n: int = 42) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def plan_figure(plan: CohortPlan, *, title: str | None = None) -> Figure:
    """Build the timeline figure of ``plan`` (does not save it).

    Parameters
    ----------
    plan : CohortPlan
    title : optional title; defaults to the number of needs and positions planned.

    Returns
    -------
    matplotlib.figure.Figure
    """
    bars = [
        (
            f"{u.session_ref} · {_short(u.course_title)}",
            u.start,
            u.end,
            EXISTING,
            f"{u.used}/{u.seats_free_before} pl.",
            None,
        )
        for u in plan.session_uses
    ] + [
        (
            f"à commander ×{c.sessions} · {_short(c.course_title)}",
            c.start_by,
            c.end_by,
            COMMISSION,
            f"{c.trainees} pers.",
            "//",
        )
        for c in plan.commissions
    ]
    hidden = max(len(bars) - MAX_BARS, 0)
    bars = sorted(bars, key=lambda b: (b[1], b[0]))[:MAX_BARS]
    n_bars = max(len(bars), 1)
    # Figure without pyplot: no global backend state; savefig renders with Agg.
    fig = Figure(
        figsize=(13, 2.8 + 0.32 * n_bars + 0.25 * min(len(plan.needs), 12)),
    )
    ax, ax2 = fig.subplots(
        2,
        1,
        gridspec_kw={"height_ratios": [max(n_bars, 3), max(min(len(plan.needs), 12), 2)]},
    )
    for i, (_label, start, end, colour, text, hatch) in enumerate(bars):
        width = (end - start).days + 1
        ax.barh(
            i,
            width,
            left=mdates.date2num(start),
            color=colour,
            hatch=hatch,
            edgecolor="#9c4f16" if hatch else colour,
            height=0.6,
        )
        ax.text(mdates.date2num(end) + 2, i, text, va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    hires = sorted({n.hiring_date for n in plan.needs})
    for k, d in enumerate(hires[:12]):
        ax.axvline(mdates.date2num(d), color="#c0392b", ls="--", lw=1.2)
        if k < 4:
            ax.text(
                mdates.date2num(d),
                -0.8,
                f"embauche {d:%d/%m}",
                color="#c0392b",
                fontsize=8,
                ha="center",
            )
    ax.axvline(mdates.date2num(plan.as_of), color="grey", lw=1)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(
            locator, formats=["%Y", "%m/%Y", "%d/%m", "%H:%M", "%H:%M", "%S"]
        )
    )
    ax.set_xlabel(f"aujourd'hui : {fr_date(plan.as_of)}")
    legend = [
        Patch(color=EXISTING, label="session existante (places utilisées)"),
        Patch(facecolor=COMMISSION, hatch="//", edgecolor="#9c4f16", label="session à commander"),
    ]
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    if hidden:
        ax.set_title(f"(+{hidden} session(s) non affichée(s))", fontsize=8, loc="right")
    if not bars:
        ax.text(
            0.5, 0.5, "aucune session utilisée ni à commander", ha="center", transform=ax.transAxes
        )

    needs = sorted(plan.needs, key=lambda n: -n.positions)[:12]
    labels = [f"{n.need_ref} · {_short(n.title, 30)} ({n.positions})" for n in needs]
    ready = [n.ready for n in needs]
    trained = [n.trained for n in needs]
    comm = [n.commissioned for n in needs]
    unfilled = [n.unfilled for n in needs]
    y = range(len(needs))
    ax2.barh(y, ready, color=READY, label="prêts maintenant")
    left = ready
    ax2.barh(y, trained, left=left, color=EXISTING, label="formés (sessions existantes)")
    left = [a + b for a, b in zip(left, trained, strict=True)]
    ax2.barh(
        y,
        comm,
        left=left,
        color=COMMISSION,
        hatch="//",
        edgecolor="#9c4f16",
        label="via sessions à commander",
    )
    left = [a + b for a, b in zip(left, comm, strict=True)]
    ax2.barh(y, unfilled, left=left, color="#cccccc", label="sans solution")
    for i, n in enumerate(needs):
        ax2.text(
            n.positions + 0.5,
            i,
            f"{n.ready} / {n.trained} / {n.commissioned}",
            va="center",
            fontsize=8,
        )
    ax2.set_yticks(list(y), labels, fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xlabel("postes : prêts / formés / à commander")
    ax2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax2.set_xlim(0, max((n.positions for n in needs), default=1) * 1.18 + 1)
    total = sum(n.positions for n in plan.needs)
    fig.suptitle(
        title or f"Plan de recrutement : {len(plan.needs)} besoin(s), {total} poste(s)",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def save_plan_chart(plan: CohortPlan, path: str | Path, *, title: str | None = None) -> Path:
    """Write the timeline chart of ``plan`` as a PNG file and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plan_figure(plan, title=title).savefig(path, format="png", dpi=110)
    return path
