"""Voices: reading audio, finding speech, the speech-emotion model, and the speech corpora it is trained on.

Modules: ``process`` (decode audio, find speech, classify window by window), ``vad`` (speech versus music, tones,
laughter and noise), ``levels`` (the sampling rate and frame loudness both of those read), ``features`` (OpenSMILE
functionals of a trimmed, loudness-normalised signal), ``classifier`` (the SVM classifier with its arousal model and
valence), ``persistence`` (skops files with a checksum, loaded only as the exact types expected), ``scratch`` (a fit's
work folders), ``corpora`` (RAVDESS and TESS and their feature cache), ``augment`` (degraded copies of clips for
training experiments), ``model`` (the class paths of model files saved before this split).

May import: ``media``, ``record``, ``labels``, ``settings``, ``errors``, ``files``. Never Streamlit, and nothing
of learned versions: the caller says which model serves.
"""
