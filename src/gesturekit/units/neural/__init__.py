"""Neural convolutive NMF (AE-CNMF and variational CNMF) for gestural-unit discovery.

``fit_neural`` trains (see :mod:`.fit`); ``NeuralUnitModel.load(run_dir)`` reloads a run for
``encode`` / ``decode`` (see :mod:`.api`); the networks are in :mod:`.models`.
"""

from gesturekit.units.neural.config import NeuralUnitsConfig
from gesturekit.units.neural.models import AECNMF, VAECNMF, NetConfig, build_net

__all__ = ["AECNMF", "VAECNMF", "NetConfig", "NeuralUnitsConfig", "build_net"]
