"""gesturekit: a toolkit for the gestures of speech.

Two pipelines share one foundation:

* ``gesturekit.units``: articulatory gestures (spatio-temporal kernels) and sparse gestural
  scores discovered in EMA kinematics by convolutive NMF, classic and neural.
* ``gesturekit.cospeech``: co-speech gesture generation from speech audio and transcript.
"""

__version__ = "0.1.0"
