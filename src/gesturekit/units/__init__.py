"""Articulatory gestural units: convolutive NMF and (from other modules) neural auto-encoders.

``ConvNMF`` is the classic estimator; ``UnitModel`` loads any fitted run folder (``cnmf``,
``ae``, ``vae``) and encodes/decodes kinematics in the data's own units.
"""

from gesturekit.units.cnmf import ConvNMF
from gesturekit.units.model import UnitModel

__all__ = ["ConvNMF", "UnitModel"]
