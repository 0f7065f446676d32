"""A model and a calibrator as one ``nn.Module`` (``CalibratedModel``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch import nn

from gencal._checks import GencalInputError, NotFittedError
from gencal.calibration.base import Calibrator
from gencal.calibration.registry import get_calibrator, load_calibrator
from gencal.calibration.temperature import SingleTemperatureCalibrator

__all__ = ["CalibratedModel"]


class CalibratedModel(nn.Module):
    """Wrap a classifier so that its forward returns calibrated logits or probabilities.

    ``fit(loader)`` runs the model in eval mode under ``torch.no_grad`` over a calibration
    DataLoader, collects its logits and fits the calibrator on them. ``forward(x)`` returns the
    calibrated output for a batch on the device (and in the dtype) of the model's logits:

    - single-temperature calibrators (``ts``, ``ts_grid``) with ``inputs="logits"`` compute in
      torch (``logits / T``): no copy to the CPU, and gradients flow to the model;
    - every other calibrator computes in float64 numpy on the CPU (its ``transform`` /
      ``predict_proba``) and the result is moved back (no gradient).

    The calibrator's JSON state travels in the module's ``state_dict`` (as extra state), so
    ``load_state_dict`` restores the fitted calibrator with the weights.

    Args:
        model: a module mapping a batch of inputs to logits ``[B, K]`` (or one logit ``[B]`` /
            ``[B, 1]`` for a binary problem).
        calibrator: a calibrator or a registry name (e.g. ``"ats"``).
        output: ``"logits"`` (calibrated logits) or ``"probs"`` (calibrated probabilities).

    Shape:
        ``forward``: whatever ``model`` takes -> the shape of the model's logits.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Linear(4, 3)
        >>> x, y = torch.randn(200, 4), torch.randint(0, 3, (200,))
        >>> cm = CalibratedModel(net, "ts").fit(DataLoader(TensorDataset(x, y), batch_size=64))
        >>> probs = CalibratedModel(net, cm.calibrator, output="probs")(x[:5])
        >>> probs.shape, bool(torch.allclose(probs.sum(1), torch.ones(5)))
        (torch.Size([5, 3]), True)
    """

    def __init__(
        self,
        model: nn.Module,
        calibrator: Calibrator | str,
        output: Literal["logits", "probs"] = "logits",
    ) -> None:
        super().__init__()
        if output not in ("logits", "probs"):
            raise GencalInputError(f"output: expected 'logits' or 'probs', got {output!r}")
        self.model = model
        self.calibrator = get_calibrator(calibrator) if isinstance(calibrator, str) else calibrator
        self.output = output

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Calibrated logits (or probabilities) of ``model(*args, **kwargs)``.

        Args:
            *args: the model's positional inputs.
            **kwargs: the model's keyword inputs.
        """
        return self.calibrate(self.model(*args, **kwargs))

    def calibrate(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrate logits the model produced (same device, dtype and layout).

        Args:
            logits: the model's logits.

        Shape:
            ``logits``: ``[B, K]``, or ``[B]`` / ``[B, 1]`` (binary); output the same shape.
        """
        cal = self.calibrator
        if isinstance(cal, SingleTemperatureCalibrator) and cal.inputs == "logits":
            if not cal.is_fitted:
                raise NotFittedError(
                    f"CalibratedModel: the calibrator {cal.name!r} is not fitted yet: "
                    "call fit(loader) first"
                )
            z = logits / cal.temperature_
            if self.output == "logits":
                return z
            binary = z.ndim == 1 or z.shape[-1] == 1
            return torch.sigmoid(z) if binary else torch.softmax(z, dim=-1)
        out = cal.transform(logits) if self.output == "logits" else cal.predict_proba(logits)
        return out

    @torch.no_grad()
    def collect_logits(
        self, loader: Iterable[Any], device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's logits and the labels of every batch, in eval mode without gradients.

        Args:
            loader: batches ``(inputs, labels, ...)`` (e.g. a ``DataLoader``).
            device: where inputs go (default: the device of the model's first parameter).

        Returns:
            ``(logits, labels)`` concatenated over batches, on the CPU; the model's training
            mode is restored afterwards.
        """
        if device is None:
            p = next(self.model.parameters(), None)
            device = p.device if p is not None else torch.device("cpu")
        was_training = self.model.training
        self.model.eval()
        logits, labels = [], []
        try:
            for batch in loader:
                if not isinstance(batch, (list, tuple)) or len(batch) < 2:
                    raise GencalInputError(
                        "loader: each batch must be (inputs, labels, ...), got "
                        f"{type(batch).__name__}"
                    )
                logits.append(self.model(batch[0].to(device)).detach().cpu())
                labels.append(torch.as_tensor(batch[1]).cpu())
        finally:
            self.model.train(was_training)
        if not logits:
            raise GencalInputError("loader: yielded no batches")
        return torch.cat(logits), torch.cat(labels)

    def fit(self, loader: Iterable[Any], device: torch.device | None = None) -> CalibratedModel:
        """Fit the calibrator on the model's logits over ``loader``; returns ``self``.

        Args:
            loader: calibration batches ``(inputs, labels, ...)``.
            device: where inputs go (default: the model's device).
        """
        logits, labels = self.collect_logits(loader, device)
        self.calibrator.fit(logits, labels)
        return self

    def get_extra_state(self) -> dict[str, Any]:
        """The calibrator's JSON (saved in ``state_dict``)."""
        return {"calibrator": self.calibrator.to_json(), "output": self.output}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore the calibrator saved by :meth:`get_extra_state`.

        Args:
            state: what :meth:`get_extra_state` returned.
        """
        self.calibrator = load_calibrator(state["calibrator"])
        self.output = state["output"]
