"""Referential loading (ROME 4.0, ESCO, RNCP, communes), French text normalisation and free text -> codes."""
