"""Planning: skill gaps, training paths and cohort recruitment plans for future hiring.

* :mod:`~matching.planning.data` indexes a snapshot for planning (:class:`PlanningData`);
* :mod:`~matching.planning.gaps` computes what separates a jobseeker from a need;
* :mod:`~matching.planning.paths` finds the cheapest sequence of real sessions closing it in time;
* :mod:`~matching.planning.cohort` plans a whole cohort (several needs at once) by an exact
  integer programme, and what extra sessions to commission;
* :mod:`~matching.planning.chart` draws the plan's timeline.
"""
