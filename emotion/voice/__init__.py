"""Voices: reading audio, finding speech, the speech-emotion model, and the speech corpora it is trained on.

Modules: ``model`` (OpenSMILE features, the SVM classifier with its arousal model and valence, loaded only as the
exact types expected), ``process`` (decode audio, find speech, classify window by window), ``vad`` (speech versus
music, tones, laughter and noise), ``corpora`` (RAVDESS and TESS and their feature cache), ``augment`` (degraded
copies of clips for training experiments).

May import: ``emotion.settings``, ``labels``, ``errors``, ``files``, ``record``, ``media``. Never Streamlit.
"""
