"""The REST service: the batch flow over HTTP (``python -m emotion serve``), for teams and other programs.

Modules: ``api`` (the FastAPI app: uploads, jobs, History, exports, models, retrain; API key, rate limit),
``jobs`` (the bounded job queue and the threads that run the batch flow).

May import: ``analysis``, ``privacy``, ``learning``, ``report``, ``storage``, ``face``, ``voice``, ``media``,
``record``, ``labels``, ``settings``, ``errors``, ``files``. Never Streamlit.
"""
