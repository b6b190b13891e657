"""The model file a kept model is saved in, what a run records for it, and keeping a comparison's models.

A comparison stores, with each finished run, its best-epoch weights and what a predictor needs
to rebuild the model and map new inputs exactly as training did (the run's ``config["predictor"]``
and the arrays ``state/<name>``, ``x_mean``, ``x_std``; see :func:`run_spec` and :func:`run_arrays`).

The model file (``.losslab``) is a zip archive, stored without compression, of two kinds of member:

* ``config.json`` — ``format_version``, the losslab version that wrote it, the model's name (or
  the name of a custom factory), the input shape, the number of targets, the law (name, options
  with the data-filled ones such as a binned law's range, label), the data's kind and its
  feature and target names, and one entry per member: seed, run key, its weights' member name
  and its standardisation (``{"mean": [...], "std": [...]}`` or null);
* ``state_dict-<i>.pt`` — ``torch.save`` of member ``i``'s plain state dict (tensors only),
  read back with ``torch.load(..., weights_only=True)``, so loading a model file runs no code.

``unzip -p model.losslab config.json`` shows the configuration.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .._errors import LosslabError, listing
from .._version import __version__
from ..laws import Law, get_law

if TYPE_CHECKING:  # a type only: the predictor module imports this one
    from .predictor import Predictor

__all__ = [
    "FORMAT_VERSION", "KEEP", "STATE_PREFIX", "SUFFIX", "Member", "file_name", "keep_models", "model_config", "read_model_file",
    "run_arrays", "run_spec", "write_model_file",
]

#: the version of the model file format this losslab writes and reads (a newer one is refused)
FORMAT_VERSION = 1
#: the prefix of a run's weights among its stored arrays
STATE_PREFIX = "state/"
#: the model file's suffix, as ``losslab compare --keep`` names them
SUFFIX = ".losslab"


# ---------------------------------------------------------------------------- what a run records
def run_spec(plan: Any, law: Law, label: str) -> dict[str, Any]:
    """What a predictor needs to rebuild a run's model, besides its weights: the run's ``config["predictor"]``.

    Args:
        plan: the comparison's :class:`~losslab.experiment.plan.RunPlan`.
        law: the run's law, built for the data (a binned law's range filled in).
        label: the law's label in the comparison.
    """
    from ..laws.spec import n_targets
    from ..models import factory_name
    from .plan import jsonable

    ds = plan.data
    named = isinstance(plan.model, str)
    return {
        "model": plan.model if named else None,
        "factory": None if named else factory_name(plan.model),
        "input_shape": [int(d) for d in plan.input_shape],
        "n_targets": n_targets(law, ds.y),
        "law": {"name": law.name, "options": jsonable(law.options()), "label": label},
        "data": {
            "name": str(ds.name),
            "kind": ds.kind,
            "feature_names": jsonable(list(ds.feature_names)) if ds.feature_names else None,
            "target_names": jsonable(list(ds.target_names)) if ds.target_names else None,
        },
    }


def run_arrays(model: torch.nn.Module, scaling: tuple[np.ndarray, np.ndarray] | None) -> dict[str, np.ndarray]:
    """A trained run's weights as named arrays (``state/<name>``), and its feature standardisation (``x_mean``, ``x_std``)."""
    out = {STATE_PREFIX + k: _to_numpy(v) for k, v in model.state_dict().items()}
    if scaling is not None:
        out["x_mean"], out["x_std"] = (np.asarray(a) for a in scaling)
    return out


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds every bfloat16 exactly
        t = t.float()
    return t.numpy().copy()


# ---------------------------------------------------------------------------- a model's members
@dataclass
class Member:
    """One trained model of a predictor (an ensemble has several) and the standardisation of its inputs."""

    seed: int | None
    run: str | None
    model: torch.nn.Module
    mean: np.ndarray | None  # the training rows' mean of each table feature (None: no standardisation)
    std: np.ndarray | None


def law_of(name: str, options: Mapping[str, Any]) -> Law:
    """The law a spec names, with its recorded options."""
    return get_law(name, **dict(options))


def structure(spec: Mapping[str, Any]) -> tuple:
    """What runs must share to be members of one predictor: model, input shape, targets and law."""
    law = spec.get("law") or {}
    return (spec.get("model"), spec.get("factory"), tuple(spec.get("input_shape") or ()), spec.get("n_targets"), law.get("name"),
            json.dumps(law.get("options"), sort_keys=True))


def build_member(spec: Mapping[str, Any], seed: int, model: Callable | None, where: str) -> torch.nn.Module:
    """The untrained model of ``spec`` (its weights are loaded next): a named model, or the given factory's."""
    from ..models import build_model

    name, factory = spec.get("model"), spec.get("factory")
    if name is None:
        if model is None:
            raise LosslabError(
                f"{where}: the model was trained with a custom model factory {factory!r}, which a model file cannot hold; "
                f"pass it in Python, model={factory or 'factory'} (a function input_shape -> nn.Module), e.g. "
                f"ll.load_model(path, model={factory or 'factory'}); the losslab command cannot rebuild such a model"
            )
        if not callable(model):
            raise LosslabError(f"model={model!r}; expected the factory {factory!r} (a function input_shape -> nn.Module)")
        trunk: Any = model
    else:
        if model is not None:
            raise LosslabError(f"{where}: the model is losslab's {name!r}; model= is only for models trained with a custom factory, so leave it out")
        trunk = name
    law = spec["law"]
    return build_model(trunk, spec["input_shape"], law_of(law["name"], law.get("options") or {}), n_targets=int(spec["n_targets"]), seed=int(seed or 0))


def load_state(net: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Load ``state`` into ``net``; a one-line error naming the missing, unknown or misshapen weights."""
    ours = net.state_dict()
    missing = [k for k in ours if k not in state]
    extra = [k for k in state if k not in ours]
    wrong = [k for k in ours if k in state and tuple(state[k].shape) != tuple(ours[k].shape)]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"lacks {listing(missing)}")
        if extra:
            parts.append(f"has unknown {listing(extra)}")
        if wrong:
            k = wrong[0]
            parts.append(f"has {k!r} of shape {tuple(state[k].shape)}, the model's is {tuple(ours[k].shape)}")
        raise LosslabError(f"{where}: its weights do not fit the model: the state dict {'; '.join(parts)} (another model or factory?)")
    net.load_state_dict(state)


# ---------------------------------------------------------------------------- the file
def model_config(spec: Mapping[str, Any], members: Sequence[Member], *, ensemble: bool) -> dict[str, Any]:
    """A model file's ``config.json``: the spec's model, input shape, targets, law and data, and one entry per member."""
    entries = []
    for i, m in enumerate(members):
        scaling = None if m.mean is None else {"mean": [float(v) for v in np.asarray(m.mean).ravel()], "std": [float(v) for v in np.asarray(m.std).ravel()]}
        entries.append({"seed": m.seed, "run": m.run, "state": f"state_dict-{i}.pt", "standardize": scaling})
    return {
        "format_version": FORMAT_VERSION,
        "losslab_version": __version__,
        "kind": "ensemble" if ensemble else "model",
        **{k: v for k, v in spec.items() if k in ("model", "factory", "input_shape", "n_targets", "law", "data")},
        "members": entries,
    }


def write_model_file(path: str | Path, config: Mapping[str, Any], models: Sequence[torch.nn.Module]) -> Path:
    """Write ``config.json`` and each model's ``state_dict-<i>.pt`` into the zip at ``path``; return the path."""
    p = Path(path).expanduser()
    if not p.parent.is_dir():
        raise LosslabError(f"save: folder {str(p.parent)!r} does not exist; create it first")
    if p.is_dir():
        raise LosslabError(f"save: {str(p)!r} is a folder; expected a file name such as model{SUFFIX}")
    try:
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("config.json", json.dumps(config, indent=1))
            for i, net in enumerate(models):
                buf = io.BytesIO()
                torch.save({k: v.detach().cpu().clone() for k, v in net.state_dict().items()}, buf)
                zf.writestr(f"state_dict-{i}.pt", buf.getvalue())
    except OSError as e:
        raise LosslabError(f"save: cannot write {str(p)!r} ({e.strerror or e})") from None
    return p


def read_model_file(path: str | Path, *, model: Callable | None = None, device: str | torch.device = "cpu") -> tuple[dict, list[Member], torch.device]:
    """A model file's checked ``config.json``, its members with their weights loaded (on ``device``, in eval mode), and the device.

    Args and errors as :func:`~losslab.experiment.predictor.load_model`, which builds the
    :class:`~losslab.experiment.predictor.Predictor` from them.
    """
    from .trainer import resolve_device

    p = Path(path).expanduser()
    if not p.is_file():
        raise LosslabError(f"model file {str(p)!r} does not exist" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise LosslabError(f"model file {str(p)!r} is not a losslab model ({type(e).__name__}: {e}); expected a file written by Predictor.save or losslab compare --keep") from None
    with zf:
        try:
            config = json.loads(zf.read("config.json"))
        except KeyError:
            raise LosslabError(f"model file {str(p)!r} is a zip archive without config.json; expected a file written by Predictor.save") from None
        except (ValueError, zipfile.BadZipFile, OSError) as e:
            raise LosslabError(f"model file {str(p)!r}: its config.json cannot be read ({e})") from None
        if not isinstance(config, dict):
            raise LosslabError(f"model file {str(p)!r}: its config.json is not a JSON object")
        version = config.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise LosslabError(f"model file {str(p)!r}: its config.json has format_version {version!r}; expected a whole number")
        if version > FORMAT_VERSION:
            raise LosslabError(
                f"model file {str(p)!r} has format version {version} (written by losslab {config.get('losslab_version', '?')}); this losslab "
                f"{__version__} reads format version {FORMAT_VERSION} and older: upgrade losslab (pip install -U losslab)"
            )
        spec = _check_config(config, p)
        dev = resolve_device(device)
        members = []
        for i, entry in enumerate(config["members"]):
            where = f"model file {str(p)!r}, member {i}"
            try:
                raw = zf.read(entry["state"])
            except (KeyError, TypeError):
                raise LosslabError(f"{where}: its weights ({entry.get('state')!r}) are missing from the archive") from None
            try:
                state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 - torch's unpickler raises many types; one line naming the file
                raise LosslabError(f"{where}: its weights cannot be read with weights_only=True ({type(e).__name__}: {_first(e)})") from None
            if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
                raise LosslabError(f"{where}: its weights are not a state dict of named tensors")
            net = build_member(spec, entry.get("seed") or 0, model, str(p))
            load_state(net, state, where)
            scaling = entry.get("standardize")
            mean = std = None
            if scaling is not None:
                mean, std = (np.asarray(scaling[k], dtype=np.float32) for k in ("mean", "std"))
            members.append(Member(entry.get("seed"), entry.get("run"), net.to(dev).eval(), mean, std))
    return spec, members, dev


def _check_config(config: dict, p: Path) -> dict:
    """The parts of a model file's config a predictor reads, checked; one line naming what is missing."""
    need = {"input_shape": list, "n_targets": int, "law": dict, "members": list}
    for key, kind in need.items():
        if not isinstance(config.get(key), kind) or (key == "members" and not config[key]):
            raise LosslabError(f"model file {str(p)!r}: its config.json lacks a valid {key!r}; expected a file written by Predictor.save")
    if not isinstance(config["law"].get("name"), str) or not isinstance(config["law"].get("options", {}), dict):
        raise LosslabError(f"model file {str(p)!r}: its config.json names no law")
    for i, m in enumerate(config["members"]):
        if not isinstance(m, dict) or not isinstance(m.get("state"), str):
            raise LosslabError(f"model file {str(p)!r}: member {i} of its config.json names no weights")
    return config


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def file_name(label: str, seed: int | None = None) -> str:
    """A model file's name for a law's label and a seed (``None``: the law's ensemble), safe on every file system.

    >>> file_name("binned(kind=twohot, n_bins=21)", 3), file_name("beta")
    ('binned-kind-twohot-n_bins-21-seed3.losslab', 'beta-ensemble.losslab')
    """
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", label).strip("-.") or "law"
    return f"{slug}-{'ensemble' if seed is None else f'seed{seed}'}{SUFFIX}"


# ---------------------------------------------------------------------------- keeping a comparison's models
#: what ``losslab compare --keep`` writes: the best model, every run's model and each law's ensemble, or nothing
KEEP = ("best", "all", "none")


def keep_models(result: Any, folder: str | Path, keep: str = "best", *, model: Callable | None = None) -> tuple[dict[str, Path], list[str]]:
    """Write a comparison's models into ``folder`` as model files; return ``({description: path}, notes)``.

    ``keep="best"``: :meth:`~losslab.experiment.ComparisonResult.best_model` as
    ``<law>-seed<k>.losslab``; ``"all"``: every finished run's model, and each law's ensemble of two
    or more seeds as ``<law>-ensemble.losslab``; ``"none"``: nothing. The best model comes first.
    A run whose model cannot be kept (recorded without its weights by an older losslab) is left
    out, with a note saying why.
    """
    if keep not in KEEP:
        raise LosslabError(f"keep={keep!r}; expected one of {', '.join(KEEP)}")
    if keep == "none":
        return {}, []
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LosslabError(f"models folder {str(folder)!r} cannot be created ({e.strerror or e})") from None
    out: dict[str, Path] = {}
    notes: list[str] = []

    def put(what: str, build: Callable[[], Predictor], name: str) -> None:
        try:
            out[what] = build().save(folder / name)
        except LosslabError as e:
            notes.append(f"{what} not kept: {e}")

    label, seed = result.best_seed()
    put(f"{label}, seed {seed} (best)", lambda: result.model(label, seed, model=model), file_name(label, seed))
    if keep == "all":
        for law in result.laws:
            done = sorted(r["seed"] for r in result.runs if r["law"] == law and r["status"] == "ok")
            for s in done:
                if (law, s) != (label, seed):
                    put(f"{law}, seed {s}", lambda law=law, s=s: result.model(law, s, model=model), file_name(law, s))
            if len(done) > 1:
                put(f"{law}, ensemble of seeds {', '.join(map(str, done))}", lambda law=law: result.ensemble_model(law, model=model), file_name(law))
    return out, notes
