"""The core commands print what the README shows."""

from typer.testing import CliRunner

from matching.cli import app, register_all

runner = CliRunner()


def test_taxonomy_stats_prints_real_counts():
    register_all()
    result = runner.invoke(app, ["taxonomy", "stats"])
    assert result.exit_code == 0, result.output
    assert "13 120" in result.output  # appellations
    assert "1 584" in result.output  # fiches
    assert "90 556" in result.output  # fiche-skill links


def test_stats_on_empty_database(settings):
    register_all()
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "employeurs" in result.output and "demandeurs" in result.output
