"""The one-line messages of the ``gencal`` command line: ``gencal: error: <what to fix>``.

:func:`error_line` turns any exception into one line: a missing module of an extra names the
``pip install 'gencal[<extra>]'`` that installs it; a failed sweep names its first failure; a
user error (:class:`~gencal.GencalInputError`, a missing file, a Hydra or OmegaConf config
error) is its message folded into one line (:func:`one_line`), with the override that downloads
missing data; anything else is marked as unexpected.
"""

from __future__ import annotations

import sys

from gencal._checks import GencalInputError

__all__ = ["error_line", "one_line"]

#: third-party modules -> the extra that installs them
_EXTRAS = {
    "lightning": "train",
    "hydra": "train",
    "omegaconf": "train",
    "torchmetrics": "train",
    "tqdm": "train",
    "PIL": "train",
    "matplotlib": "plots",
    "numba": "fast",
    "submitit": "slurm",
}


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "fix your input": bad values, files, configs, overrides."""
    types: list[type[BaseException]] = [
        GencalInputError,
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
    ]
    for module, name in (
        ("hydra.errors", "HydraException"),
        ("omegaconf.errors", "OmegaConfBaseException"),
        ("gencal.train.module", "NonFiniteLossError"),  # a diverged run: its message says why
    ):
        if module in sys.modules:  # not imported: none of its errors can have been raised
            types.append(getattr(sys.modules[module], name))
    return tuple(types)


def one_line(text: str) -> str:
    r"""Fold a multi-line message (Hydra's, OmegaConf's) into one line.

    Indented lines following a line that ends with ``:`` become a comma-separated list;
    Hydra's config search path and OmegaConf's ``full_key``/``object_type`` lines are dropped.

    Args:
        text: the message.

    Returns:
        The message on one line, its lines joined with ``;``.

    Example:
        >>> one_line("Could not find 'loss/x'\nAvailable options in 'loss':\n\tce\n\tgce")
        "Could not find 'loss/x'; Available options in 'loss': ce, gce"
    """
    parts: list[str] = []
    in_list = False
    text = str(text).split("Config search path", 1)[0]  # Hydra's, on a line or inline
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("full_key:", "object_type=", "reference_type=")):
            continue
        if line.startswith("Set the environment variable HYDRA_FULL"):
            break
        if parts and raw[:1].isspace() and (in_list or parts[-1].endswith(":")):
            parts[-1] += (", " if in_list else " ") + line
            in_list = True
            continue
        in_list = False
        if parts and not parts[-1].endswith((":", ".", ";")):
            parts[-1] += ";"
        parts.append(line)
    return " ".join(parts)


def _with_hints(msg: str) -> str:
    if "download=True" in msg and "data.kwargs.download" not in msg:
        msg += " (on the command line: data.kwargs.download=true)"
    return msg


def _sweep_line(failures: dict[str, str]) -> str:
    items = list(failures.items())
    first_dir, first = items[0][0], one_line(items[0][1])
    if len({v for _, v in items}) == 1:
        what = f"{len(items)} run(s) failed: {first}"
    else:
        what = (
            f"{len(items)} runs failed, {first_dir}: {first} "
            f"(and {len(items) - 1} more; --debug lists them)"
        )
    return _with_hints(what) + (
        "; the other runs finished and are kept: fix the problem and rerun the same command "
        "to train only the failed runs"
    )


def error_line(exc: BaseException) -> str:
    """The one-line message that ``gencal: error:`` prints for ``exc``.

    Args:
        exc: the exception a command raised.

    Returns:
        One line saying what to fix.

    Example:
        >>> error_line(ModuleNotFoundError("No module named 'lightning'", name="lightning"))
        "this needs lightning, from the 'train' extra: pip install 'gencal[train]'"
        >>> error_line(FileNotFoundError("cifar10: x.tar.gz not found; pass download=True"))
        'cifar10: x.tar.gz not found; pass download=True (on the command line: data.kwargs.download=true)'
    """
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _EXTRAS:
        top = str(exc.name).split(".")[0]
        extra = _EXTRAS[top]
        msg = f"this needs {top}, from the '{extra}' extra: pip install 'gencal[{extra}]'"
        return msg + (" (or pass --no-figures)" if extra == "plots" else "")
    sweep = sys.modules.get("gencal.train.sweep")
    if sweep is not None and isinstance(exc, sweep.SweepError):
        return _sweep_line(exc.failures)
    if isinstance(exc, _user_error_types()):
        return _with_hints(one_line(str(exc)))
    return (
        f"{type(exc).__name__}: {one_line(str(exc))} "
        "(unexpected error: --debug or GENCAL_DEBUG=1 shows the traceback)"
    )
