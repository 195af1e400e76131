"""Voices: reading audio, the speech-emotion model, and the speech corpora it is trained on.

Modules: ``model`` (OpenSMILE features and the SVM classifier, loaded only as the exact types expected),
``process`` (decode audio, find speech, classify window by window), ``corpora`` (RAVDESS and its feature cache).

May import: ``emotion.settings``, ``labels``, ``errors``, ``files``, ``record``, ``media``. Never Streamlit.
"""
