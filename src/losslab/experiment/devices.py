"""The devices a model can train on here, and the one ``device="auto"`` picks."""

from __future__ import annotations

import torch

from .._errors import LosslabError

__all__ = ["available_devices", "resolve_device"]


def available_devices() -> list[str]:
    """The device names this torch can run on here: ``"cpu"``, then each CUDA GPU, then ``"mps"``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA, then Apple MPS, then the CPU; a named device must exist here.

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("bogus")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    losslab._errors.LosslabError: device='bogus' is not a device name; available here: auto, cpu...
    """
    if str(device) == "auto":
        names = available_devices()
        return torch.device("cuda" if "cuda" in names else "mps" if "mps" in names else "cpu")
    here = ", ".join(["auto", *available_devices()])
    if not isinstance(device, (str, torch.device)):
        raise LosslabError(f"device={device!r} ({type(device).__name__}); expected a device name: one of {here}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise LosslabError(f"device={str(device)!r} is not a device name; available here: {here}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise LosslabError(f"device={str(device)!r}, but torch {torch.__version__} ({build}) sees no CUDA GPU; available here: {here}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise LosslabError(f"device={str(device)!r}, but there are {torch.cuda.device_count()} CUDA GPU(s); available here: {here}")
    elif dev.type == "mps":
        if str(dev) not in available_devices():
            raise LosslabError(f"device={str(device)!r}, but Apple MPS is not available; available here: {here}")
    elif dev.type != "cpu":
        backend = getattr(torch, dev.type, None)  # torch.xpu and the like say whether they can run
        if not (hasattr(backend, "is_available") and backend.is_available()):
            raise LosslabError(f"device={str(device)!r} cannot train here; available here: {here}")
    return dev
