"""A trained neural CNMF as a :class:`~gesturekit.units.model.UnitModel` (methods ``ae``, ``vae``).

``UnitModel.load(RUN_DIR)`` builds a :class:`NeuralUnitModel` for runs whose meta says
``method: ae|vae``. ``encode(x)`` takes an :class:`~gesturekit.records.EMARecording` (channels
matched by name, rate checked) or an array ``(time, channels)`` in the data's own units and
returns the scores ``(gestures, time)`` (the VAE's posterior mean); ``decode(scores)`` returns
``(time, channels)`` in data units; ``sample(x, n)`` draws VAE scores. Inference runs one
utterance at a time, so the time per frame does not depend on padding
(:class:`gesturekit.units.ops.Inference` runs it, on the backend it picks).

The checkpoint holds the network's ``state_dict`` plus ``gestures`` ``(channels, gestures,
width)`` (what every unit model stores); meta ``hparams`` holds ``net`` (the
:class:`~gesturekit.units.neural.models.NetConfig`), ``in_channels`` and ``phone_set``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gesturekit.errors import ConfigError, DataError, FormatError
from gesturekit.features.normalize import Normalizer
from gesturekit.records import EMARecording
from gesturekit.units import ops
from gesturekit.units.model import UnitModel, register_unit_model
from gesturekit.units.neural.models import AECNMF, VAECNMF, NetConfig, build_net

NEURAL_METHODS = ("ae", "vae")


class NeuralUnitModel(UnitModel):
    """AE-/VAE-CNMF run: the network, its normaliser and channel names."""

    method = "ae"

    def __init__(self, net: AECNMF, normalizer: Normalizer, channels: list[str], rate_hz: float,
                 hparams: dict[str, Any] | None = None) -> None:  # fmt: skip
        net = net.eval()
        gestures = net.decoder.gestures().detach().cpu().numpy()
        super().__init__(gestures, normalizer, channels, rate_hz, hparams)
        self.net = net
        self.method = "vae" if isinstance(net, VAECNMF) else "ae"  # type: ignore[misc]
        # an affine normaliser runs inside the op, in float32 (data units in and out); the +/- split
        # is left to the normaliser (the op then works in normalised units)
        affine = None if normalizer.nonneg_split else (normalizer.shift, normalizer.scale)
        self._affine = affine is not None
        head = net.mean_scores if isinstance(net, VAECNMF) else None
        self._infer = ops.Inference(net.encoder.layers(), net.decoder.gestures(), net.decoder.centre,
                                    final_relu=net.encoder.final_relu, head=head, affine=affine)  # fmt: skip

    @property
    def phone_set(self) -> list[str]:
        return list(self.hparams.get("phone_set", []))

    # -- persistence ------------------------------------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        out = {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        out["gestures"] = self.gestures
        return out

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> NeuralUnitModel:
        hp = meta.get("hparams", {})
        try:
            net_cfg = NetConfig.from_dict(hp["net"], "model.json: hparams.net")
            net = build_net(meta["method"], int(hp["in_channels"]), net_cfg, len(hp.get("phone_set", [])))
            state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k != "gestures"}
            net.load_state_dict(state)
        except ConfigError:
            raise
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise FormatError(
                "model.safetensors", f"weights do not fit a {meta.get('method')} model ({exc})"
            ) from None
        return cls(net, Normalizer.from_dict(meta["normalizer"]), meta["channels"], meta["rate_hz"], hp)

    # -- inference (one utterance at a time: gesturekit.units.ops.Inference) ----------------
    def _op_input(self, x: EMARecording | np.ndarray) -> np.ndarray:
        """Checked data in the op's units (data units with an affine normaliser, else normalised)."""
        arr = self.prepare(x)
        return arr if self._affine else self.normalizer.transform(arr)

    def _from_op(self, y: np.ndarray) -> np.ndarray:
        return y if self._affine else self.normalizer.inverse_transform(y)

    @torch.inference_mode()
    def encode(self, x: EMARecording | np.ndarray) -> np.ndarray:
        return self._infer.encode(self._op_input(x))

    @torch.inference_mode()
    def decode(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape[0] != self.n_gestures:
            raise DataError(f"scores must be ({self.n_gestures}, time), got shape {scores.shape}")
        return self._from_op(self._infer.decode(scores))

    @torch.inference_mode()
    def encode_normalised(self, xn: np.ndarray) -> np.ndarray:
        return self._infer.encode_normalised(xn)

    @torch.inference_mode()
    def decode_normalised(self, scores: np.ndarray) -> np.ndarray:
        return self._infer.decode_normalised(scores)

    @torch.inference_mode()
    def reconstruct(self, x: EMARecording | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (gestures, time), reconstruction (time, channels))``, in one compiled call
        where the op has one."""
        h, y = self._infer.reconstruct(self._op_input(x))
        return h, self._from_op(y)

    @torch.inference_mode()
    def sample(self, x: EMARecording | np.ndarray, n: int = 1, seed: int = 0) -> np.ndarray:
        """``n`` posterior draws of the scores ``(n, gestures, time)`` (VAE only)."""
        if not isinstance(self.net, VAECNMF):
            raise DataError(f"sampling needs a variational model; this one is '{self.method}'")
        xn = torch.from_numpy(np.ascontiguousarray(self.normalise(x).T, dtype=np.float32))[None]
        mu, log_sigma = self.net.posterior(xn)
        eps = torch.randn((n, *mu.shape[1:]), generator=torch.Generator().manual_seed(int(seed)))
        return torch.exp(mu + torch.exp(log_sigma) * eps).numpy()


class _VAEUnitModel(NeuralUnitModel):
    method = "vae"


register_unit_model("ae", NeuralUnitModel)
register_unit_model("vae", _VAEUnitModel)
