"""Fairness and data protection: the only engine-side reader of protected attributes.

* :mod:`matching.fairness.audit` — selection rates and exposure by group relative to the eligible
  pool (shortlists of a run and recorded decisions), confidence intervals, four-fifths rule;
* :mod:`matching.fairness.data` — reads the protected attributes (``jobseeker_identities``:
  gender, birth date; ``jobseekers.priority_district``, ``unemployed_since``) and the run rows the
  audit needs; nothing else in the engine reads them;
* :mod:`matching.fairness.policy` — the explicit, off-by-default priority re-ranking lever;
* :mod:`matching.fairness.gdpr` — retention purge, right of access, erasure.
"""
