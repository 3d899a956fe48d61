"""The plan's timeline chart is a real PNG showing sessions and commissions."""

from __future__ import annotations

from matching.planning.chart import plan_figure, save_plan_chart
from matching.planning.cohort import plan_cohort
from tests.planning.test_cohort import call_centre_world


def test_chart_is_written_as_png(tmp_path):
    plan = plan_cohort(call_centre_world(), [1])
    path = save_plan_chart(plan, tmp_path / "sortie" / "plan.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = plan_figure(plan)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [
        "S001 · Conseiller relation client à distance",
        "à commander ×1 · Conseiller relation client à distance",
    ]
    assert "6 poste(s)" in fig._suptitle.get_text()
