"""Retrieval, pair features, rankers, explanations and the MatchingEngine facade."""
