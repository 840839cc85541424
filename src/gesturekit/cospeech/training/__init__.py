"""The training room: ``fit`` (the run folder, data preparation, the G/D steps on the shared
:class:`gesturekit.train.Trainer`, dev metrics), the losses the trainer adds around a model, and
the k-means pose clusters whose labels it trains on.

Top of the ``cospeech`` import order: it may import every other room; no room imports it.
"""
