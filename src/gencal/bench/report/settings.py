"""What a study's report says: title, prose, reference loss, comparisons and row order.

The experiment config's ``report:`` node holds the study-specific wording and the extra paired
comparisons; the defaults (``configs/config.yaml``) are generic::

    report:
      title: null            # null = "gencal report: <experiment>"
      description: []        # paragraphs shown under the title
      reference: ce          # every other loss is tested against this one, per calibrator
      comparisons: []        # extra paired tests, e.g. ["gce+ats vs focal+ts"]
      embed_figures: true    # index.html embeds its figures (false: links figures/*.png)

The row order follows the config's ``grid.loss`` and the calibrator order its ``calibrators``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["ReportSettings"]


def _names(items: Any) -> list[str]:
    if isinstance(items, str):
        items = [s.strip() for s in items.split(",")]
    out = []
    for item in items or ():
        if isinstance(item, Mapping):
            if "label" in item or "name" in item:
                item = item.get("label", item.get("name"))
            elif len(item) == 1:  # {label: {name: ..., ...}}
                item = next(iter(item))
        if item:
            out.append(str(item))
    return out


@dataclass
class ReportSettings:
    """The study-specific part of a report (see the module docstring).

    Example:
        >>> s = ReportSettings.from_config({"report": {"title": "GCE study"},
        ...                                 "grid": {"loss": ["ce", "gce"]}})
        >>> s.title, s.reference, s.loss_order
        ('GCE study', 'ce', ['ce', 'gce'])
    """

    title: str | None = None
    description: list[str] = field(default_factory=list)
    reference: str = "ce"
    comparisons: list[Any] = field(default_factory=list)
    loss_order: list[str] = field(default_factory=lambda: ["ce", "gce", "focal", "flsd53"])
    calibrator_order: list[str] = field(default_factory=lambda: ["none", "ts", "ats"])
    embed_figures: bool = True

    @classmethod
    def from_config(cls, cfg: Any) -> ReportSettings:
        """Read the ``report`` node, ``grid.loss`` and ``calibrators`` of a (composed) config."""
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
        cfg = cfg or {}
        node = cfg.get("report") or {}
        out = cls()
        if node.get("title"):
            out.title = str(node["title"])
        desc = node.get("description") or []
        out.description = [desc] if isinstance(desc, str) else [str(p) for p in desc]
        if node.get("reference"):
            out.reference = str(node["reference"])
        out.comparisons = list(node.get("comparisons") or [])
        if node.get("embed_figures") is not None:
            out.embed_figures = bool(node["embed_figures"])
        grid = cfg.get("grid") or {}
        losses = _names(grid.get("loss") or grid.get("losses"))
        if losses:
            out.loss_order = losses
        cals = _names(cfg.get("calibrators"))
        if cals:
            out.calibrator_order = cals
        return out

    @classmethod
    def from_runs(cls, run_dirs: Sequence[Path]) -> ReportSettings:
        """From the saved config of the first run folder that has one; defaults otherwise.

        The wording is not part of a run's result, so when the runs' experiment is a preset of
        ``configs/experiment/``, its current ``report:`` node is used (a study's text can be
        written after its runs finished); the row and calibrator order stay the runs'.
        """
        from gencal.bench.cells import load_run_config

        for rd in run_dirs:
            cfg = load_run_config(rd)
            if cfg is not None:
                out = cls.from_config(cfg)
                preset = _preset_report(cfg.get("experiment"))
                if preset is not None:  # the preset's report node, the runs' orders
                    orders = {
                        "loss_order": out.loss_order,
                        "calibrator_order": out.calibrator_order,
                    }
                    out = replace(cls.from_config({"report": preset}), **orders)
                return out
        return cls()


def _preset_report(experiment: Any) -> dict[str, Any] | None:
    """The ``report`` node of ``configs/experiment/<experiment>.yaml`` (None if no such preset)."""
    if not isinstance(experiment, str) or not experiment:
        return None
    try:
        from gencal.train.config import compose_config, config_groups
    except ImportError:  # pragma: no cover - the train extra is absent
        return None
    if experiment not in config_groups().get("experiment", []):
        return None
    from omegaconf import OmegaConf

    cfg = compose_config([f"experiment={experiment}"], validate=False)
    return OmegaConf.to_container(cfg.report, resolve=True) if cfg.get("report") else None
