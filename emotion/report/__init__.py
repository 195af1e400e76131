"""Reporting: figures, tables, annotated media, exports and the engagement score of a result.

Modules: ``views`` (plotly figures and pandas tables), ``annotate`` (the annotated image and video), ``export``
(JSON and CSV), ``engagement`` (the documented heuristic).

May import: ``storage``, ``face``, ``voice``, ``media``, ``record``, ``labels``, ``settings``, ``errors``,
``files`` (it uses only the last six). Never Streamlit: the app lays these out.
"""
