"""The evaluation room: metrics of generated motion against the ground truth, read from a samples
file (:mod:`gesturekit.io.samples`): pose metrics, FGD and its encoder, Fréchet distances, beat
consistency, cluster F1, and the comparison table of evaluated models.

Imports no other ``cospeech`` room (training imports its pose and cluster metrics for dev scores).
"""
