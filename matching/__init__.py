"""Passerelle: skills matching between employers' needs, jobseekers and training courses.

The engine lives here and knows nothing of the web: ``taxonomy`` (referential, free text),
``features`` (vectorisers), ``ranking`` (retrieval, ranker, explanations), ``planning`` (gaps,
training paths, cohort plans), ``evaluation``, ``fairness``, ``store`` (SQLAlchemy, migrations,
import/export), ``batch`` (nightly run), ``services`` (use cases for the CLI and the API).
"""

__version__ = "0.1.0"
