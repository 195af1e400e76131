"""The Streamlit app's parts: the only code (with ``pages/`` and ``streamlit_app.py``) that imports Streamlit.

Modules: ``state`` (cached models, session settings and results), ``sidebar`` (generated from Settings),
``runner`` (the Analyse page's batch, through ``emotion.analysis.batch``), ``results`` (every view of a result),
``history``, ``review`` and ``live`` (their pages' parts), ``widgets`` (labels, plain names, downloads).

May import anything in ``emotion``; nothing in ``emotion`` imports it.
"""
