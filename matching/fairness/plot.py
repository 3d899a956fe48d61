"""Chart of a fairness audit: ratio to the reference group by group, one panel per section."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt

from matching.fairness.audit import ATTRIBUTES, FairnessAudit


def plot_audit(audit: FairnessAudit, path: str | Path | None = None):
    """Horizontal bars of the selection-rate ratio (and exposure ratio for shortlists).

    Bars below the four-fifths line (0.80) are red, flagged-but-above are orange; whiskers are
    the bootstrap 95 % intervals of the ratio. Returns the matplotlib Figure (saved to ``path``
    when given).
    """
    sections = list(audit.sections)
    fig, axes = plt.subplots(
        1, max(len(sections), 1), figsize=(4.2 * max(len(sections), 1), 6.5), sharey=True
    )
    axes = list(axes) if len(sections) > 1 else [axes]
    for ax, section in zip(axes, sections, strict=False):
        flagged = {(f.attribute, f.group): f.severity for f in section.flags if f.metric == "taux"}
        labels, values, lows, highs, colours = [], [], [], [], []
        for g in section.groups:
            if g.group == "inconnu":
                continue
            labels.append(f"{g.label}")
            values.append(g.rate_ratio)
            lo, hi = g.rate_ratio_ci
            lows.append(max(g.rate_ratio - lo, 0) if lo == lo else 0)
            highs.append(max(hi - g.rate_ratio, 0) if hi == hi else 0)
            sev = flagged.get((g.attribute, g.group))
            colours.append("#c0392b" if sev == "à examiner" else "#e67e22" if sev else "#2e86c1")
        y = range(len(labels))
        ax.barh(list(y), values, xerr=[lows, highs], color=colours, capsize=2)
        ax.axvline(0.8, color="black", linestyle="--", linewidth=1)
        ax.axvline(1.0, color="grey", linewidth=0.8)
        ax.set_yticks(list(y), labels, fontsize=8)
        ax.set_xlim(0, max(1.3, max(values, default=1) + 0.1))
        ax.set_title(section.title.replace(" : ", " :\n"), fontsize=9)
        ax.set_xlabel(f"ratio du {section.rate_label}\nau groupe le plus favorisé", fontsize=8)
    axes[0].invert_yaxis()  # shared y axis: invert once
    subtitle = " · ".join(ATTRIBUTES.values())
    fig.suptitle(
        f"Audit d'équité — exécution n° {audit.run_id} du {audit.as_of:%d/%m/%Y} "
        f"(ligne pointillée : règle des 4/5)\n{subtitle}",
        fontsize=10,
    )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
