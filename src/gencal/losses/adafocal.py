"""AdaFocal (Ghosh, Schaaf & Gormley, NeurIPS 2022): focal loss with per-bin, calibration-driven gamma."""

from __future__ import annotations

import math

import torch

from gencal._checks import GencalInputError, check_labels, check_logits
from gencal.losses.base import CalibrationLoss
from gencal.losses.registry import register_loss

__all__ = ["AdaFocalLoss"]


@register_loss("adafocal")
class AdaFocalLoss(CalibrationLoss):
    """AdaFocal: focal loss whose gamma is adapted per confidence bin from validation statistics.

    Ghosh, Schaaf & Gormley, "AdaFocal: Calibration-aware Adaptive Focal Loss", NeurIPS 2022
    (reference code: github.com/3mcloud/adafocal, whose defaults are used here).

    State: ``num_bins`` bins with edges and one ``gamma_b`` each (buffers, so they are saved in
    checkpoints). Initially the bins are equal-width on [0, 1] and ``gamma_b = gamma_initial``.

    Training loss for a sample whose true-class probability ``p_y`` falls in bin b
    (``lower_b <= p_y < upper_b``; below the first edge -> bin 0, above the last -> last bin;
    the bin choice carries no gradient)::

        gamma_b >= 0:  -(1 - p_y)^gamma_b * log p_y      (focal)
        gamma_b <  0:  -(1 + p_y)^|gamma_b| * log p_y    (inverse focal)

    :meth:`update` (call once per epoch with the validation logits and labels) re-bins the
    validation top-label confidences into ``num_bins`` **equal-mass** bins (edges interpolated
    on the sorted confidences, as in the paper's AdaECE; bins are ``(lower, upper]``, the first
    one closed) and, with ``gap_b = mean confidence_b - accuracy_b`` (0 for an empty bin),
    applies the paper's rule::

        gamma_b <- gamma_b * exp( lam * gap_b)   if gamma_b > 0
        gamma_b <- gamma_b * exp(-lam * gap_b)   if gamma_b <= 0
        if |gamma_b| < switch_pt:  gamma_b <- -switch_pt if gamma_b > 0 else +switch_pt
        gamma_b <- clip(gamma_b, gamma_min, gamma_max)

    and takes the new equal-mass edges as the bins used for training. With
    ``gamma_initial=0`` and no update the loss is cross-entropy.

    Args:
        num_bins: number of confidence bins.
        lam: step size of the gamma update.
        gamma_initial: gamma of every bin before the first update.
        gamma_max: upper clip of gamma.
        gamma_min: lower clip of gamma.
        switch_pt: ``|gamma|`` below which focal and inverse focal switch.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see :class:`CalibrationLoss`).
        ignore_index: label of rows to leave out.
        validate_args: check for NaN/inf logits and out-of-range labels (one host sync).

    Shape:
        ``forward(logits [N, K], target [N])`` -> scalar, or ``[N]`` for ``reduction="none"``;
        ``update(val_logits [M, K], val_labels [M])``.

    Attributes:
        parts: ``{"adafocal": ...}``.
        last_update: the per-bin validation statistics of the last :meth:`update`.

    Example:
        >>> import torch
        >>> loss = AdaFocalLoss()(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))
        >>> round(loss.item(), 4)  # gamma 1 before any update: (1 - 0.5) * log 2
        0.3466
    """

    needs_update = True

    def __init__(
        self,
        num_bins: int = 15,
        lam: float = 1.0,
        gamma_initial: float = 1.0,
        gamma_max: float = 20.0,
        gamma_min: float = -2.0,
        switch_pt: float = 0.2,
        reduction: str = "mean",
        ignore_index: int = -100,
        validate_args: bool = True,
    ) -> None:
        super().__init__(
            reduction=reduction, ignore_index=ignore_index, validate_args=validate_args
        )
        if int(num_bins) < 1:
            raise GencalInputError(f"num_bins: must be >= 1, got {num_bins}")
        if not gamma_min <= gamma_max:
            raise GencalInputError(f"gamma_min ({gamma_min}) must be <= gamma_max ({gamma_max})")
        if switch_pt < 0:
            raise GencalInputError(f"switch_pt: must be >= 0, got {switch_pt}")
        self.num_bins = int(num_bins)
        self.lam = float(lam)
        self.gamma_initial = float(gamma_initial)
        self.gamma_max = float(gamma_max)
        self.gamma_min = float(gamma_min)
        self.switch_pt = float(switch_pt)
        self.gammas: torch.Tensor
        self.inner_edges: torch.Tensor
        self.register_buffer(
            "gammas", torch.full((self.num_bins,), self.gamma_initial, dtype=torch.float64)
        )
        self.register_buffer(
            "inner_edges", torch.linspace(0.0, 1.0, self.num_bins + 1, dtype=torch.float64)[1:-1]
        )
        self.last_update: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ training loss
    def sample_gamma(self, p_y: torch.Tensor) -> torch.Tensor:
        """The gamma of the bin each true-class probability falls in (no gradient)."""
        with torch.no_grad():
            edges = self.inner_edges.to(device=p_y.device, dtype=torch.float64)
            idx = torch.bucketize(p_y.detach().double(), edges, right=True)
            return self.gammas.to(p_y.device)[idx].to(p_y.dtype)

    def _forward(self, logits, target, valid, n_valid):
        logp = torch.log_softmax(logits, dim=1)
        logp_y = logp.gather(1, target.unsqueeze(1)).squeeze(1)
        p_y = logp_y.exp()
        gamma = self.sample_gamma(p_y)
        tiny = torch.finfo(p_y.dtype).tiny
        base = torch.where(gamma >= 0, (-torch.expm1(logp_y)).clamp_min(tiny), 1.0 + p_y)
        loss_i = -(base ** gamma.abs()) * logp_y
        return self._single_term("adafocal", loss_i, valid, n_valid)

    # ------------------------------------------------------------------ per-epoch update
    @staticmethod
    def equal_mass_edges(conf: torch.Tensor, num_bins: int) -> torch.Tensor:
        """``num_bins + 1`` edges interpolated on the sorted confidences (equal-mass bins)."""
        s = torch.sort(conf.double()).values
        n = s.numel()
        pos = torch.linspace(0.0, float(n), num_bins + 1, dtype=torch.float64, device=s.device)
        pos = pos.clamp(max=n - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=n - 1)
        frac = pos - lo.double()
        return s[lo] + frac * (s[hi] - s[lo])

    def bin_stats(
        self, val_logits: torch.Tensor, val_labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Equal-mass bin edges, counts, mean confidence, accuracy and gap on validation data."""
        check_logits(val_logits, "val_logits")
        check_labels(val_labels, val_logits.shape[1], val_logits.shape[0], "val_labels")
        if val_logits.shape[0] == 0:
            raise GencalInputError(
                "val_logits: need at least one validation sample to update AdaFocal"
            )
        with torch.no_grad():
            probs = torch.softmax(val_logits.double(), dim=1)
            conf, pred = probs.max(dim=1)
            correct = (pred == val_labels).double()
            edges = self.equal_mass_edges(conf, self.num_bins)
            # (lower, upper] bins; the first bin also takes conf == its lower edge
            idx = torch.bucketize(conf, edges[1:-1], right=False)
            b = self.num_bins
            count = torch.zeros(b, dtype=torch.float64, device=conf.device).index_add_(
                0, idx, torch.ones_like(conf)
            )
            conf_sum = torch.zeros_like(count).index_add_(0, idx, conf)
            acc_sum = torch.zeros_like(count).index_add_(0, idx, correct)
            safe = count.clamp(min=1)
            mean_conf = torch.where(count > 0, conf_sum / safe, 0.0)
            acc = torch.where(count > 0, acc_sum / safe, 0.0)
        return {
            "edges": edges,
            "count": count,
            "confidence": mean_conf,
            "accuracy": acc,
            "gap": mean_conf - acc,
        }

    def update(self, val_logits: torch.Tensor, val_labels: torch.Tensor) -> None:
        """Apply the AdaFocal gamma update from the validation split's logits (once per epoch)."""
        stats = self.bin_stats(val_logits, val_labels)
        new = []
        for g, gap in zip(self.gammas.tolist(), stats["gap"].tolist()):
            nxt = g * math.exp(self.lam * gap) if g > 0 else g * math.exp(-self.lam * gap)
            if abs(nxt) < self.switch_pt:
                nxt = -self.switch_pt if nxt > 0 else self.switch_pt
            new.append(min(max(nxt, self.gamma_min), self.gamma_max))
        self.gammas = torch.tensor(new, dtype=torch.float64, device=self.gammas.device)
        self.inner_edges = stats["edges"][1:-1].to(self.inner_edges.device)
        self.last_update = {k: v.detach().cpu() for k, v in stats.items()}

    def extra_repr(self) -> str:
        return f"num_bins={self.num_bins}, lam={self.lam}, " + super().extra_repr()
