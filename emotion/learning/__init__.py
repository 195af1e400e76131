"""Learning from analysts: collecting, reviewing, retraining with a gate, and background retrains.

Modules: ``collect`` (faces and voice gathered during analysis), ``review`` (table edits -> labels), ``retrain``
(fit, judge on held-out data, keep as a version), ``jobs`` (retrains as background processes), ``active`` (the
voice model version that serves, loaded with a fallback).

May import: ``storage``, ``face``, ``voice``, ``media``, ``record``, ``labels``, ``settings``, ``errors``,
``files``. Never Streamlit.
"""
