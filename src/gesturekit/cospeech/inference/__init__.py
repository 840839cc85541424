"""The inference room: using a trained model. :mod:`~gesturekit.cospeech.inference.pipeline`
(``GesturePipeline``: poses for speech of any length), :mod:`~gesturekit.cospeech.inference.sampling`
(samples files, ``poses.npz``), :mod:`~gesturekit.cospeech.inference.streaming` (live generation)
and :mod:`~gesturekit.cospeech.inference.export` (motion out to BVH, SMPL-X npz, CSV).

Imports ``data``, ``models`` (the model bundle) and lower packages; never ``training``.
"""
