"""The Streamlit app's parts: the only code (with ``pages/`` and ``streamlit_app.py``) that imports Streamlit.

Modules: ``state`` (cached models, session settings and results), ``sidebar`` (generated from Settings),
``runner`` (the Analyse page's batch, through ``emotion.analysis.batch``), ``results`` (every view of a result),
``history``, ``review`` and ``live`` (their pages' parts), ``widgets`` (labels, plain names, downloads).

May import: ``analysis``, ``privacy``, ``learning``, ``report``, ``storage``, ``face``, ``voice``, ``media``,
``record``, ``labels``, ``settings``, ``errors``, ``files``. Nothing in ``emotion`` imports it.
"""
