"""Evaluation of Passerelle components: metrics, baselines and reports."""
