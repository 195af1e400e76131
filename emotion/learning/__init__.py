"""Learning from analysts: collecting, reviewing, retraining with a gate, and background retrains.

Modules: ``collect`` (faces and voice gathered during analysis), ``review`` (table edits -> labels), ``retrain``
(fit, judge on held-out data, keep as a version), ``jobs`` (retrains as background processes).

May import: ``storage``, ``face``, ``voice`` and everything below them. Never Streamlit.
"""
