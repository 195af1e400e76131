"""Analysis: one file to one result, many inputs to saved, kept and exported results, and live frames.

Modules: ``pipeline`` (one file -> one Result), ``batch`` (many inputs -> saved, kept, exported), ``live``
(webcam frames), ``uploads`` (private copies of uploaded bytes).

``batch`` is the one flow that every way in calls: the app, the CLI and any service.

May import: ``learning``, ``report``, ``storage``, ``face``, ``voice``, ``media``, ``record``, ``labels``,
``settings``, ``errors``, ``files``. Never Streamlit (``live`` uses PyAV frames, not streamlit-webrtc).
"""
