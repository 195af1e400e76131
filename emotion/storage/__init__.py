"""Storage: what the studio keeps on disk, all under the data dir.

Modules: ``history`` (every analysis, SQLite), ``learning_store`` (kept faces, voice segments and corrections,
SQLite), ``versions`` (learned model versions and the active one), ``cards`` (model cards).

May import: ``face``, ``voice``, ``media``, ``record``, ``labels``, ``settings``, ``errors``, ``files``; it uses
only ``record``, ``settings``, ``files`` and ``errors``: never Streamlit, never the models.
"""
