"""Neural convolutive NMF (AE-CNMF and variational CNMF) for gestural-unit discovery.

Importing this package registers the ``ae`` and ``vae`` methods of ``gesturekit units fit`` and
their :class:`~gesturekit.units.model.UnitModel` loader. Modules: :mod:`.models` (networks and
their :class:`NetConfig`), :mod:`.losses` / :mod:`.objective` (masked losses), :mod:`.kmeans`
(gesture initialisation), :mod:`.data` (batches), :mod:`.fit` (training), :mod:`.api` (the trained
model), :mod:`.config` (training options). What they compute, and on which backend, is
:mod:`gesturekit.units.ops`.
"""

from gesturekit.units.methods import UnitMethod, register_method
from gesturekit.units.neural.api import NeuralUnitModel
from gesturekit.units.neural.config import NeuralUnitsConfig
from gesturekit.units.neural.fit import fit_neural
from gesturekit.units.neural.models import AECNMF, VAECNMF, NetConfig, build_net

register_method(UnitMethod("ae", NeuralUnitsConfig, fit_neural, "auto-encoder convolutive NMF (neural)"))
register_method(UnitMethod("vae", NeuralUnitsConfig, fit_neural, "variational convolutive NMF (neural)"))

__all__ = ["AECNMF", "VAECNMF", "NetConfig", "NeuralUnitModel", "NeuralUnitsConfig", "build_net", "fit_neural"]
