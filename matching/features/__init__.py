"""Vectorisers (scikit-learn fit/transform) putting needs, profiles and courses in one skill space."""
