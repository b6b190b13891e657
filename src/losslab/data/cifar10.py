"""The CIFAR-10 test batch, read from the official python tarball without unpickling it.

The batch is a pickle, but it is never unpickled: :func:`read_cifar10_batch` reads it opcode
by opcode and builds only arrays, lists, numbers and strings, so a tampered file (or one
loaded with ``verify=False``) cannot run code, whatever its checksum.
"""

from __future__ import annotations

import math
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import LosslabError

__all__ = ["cifar10_test_from_tar", "read_cifar10_batch"]

#: the most bytes read from the tarball's test batch: the official one is 31 MB, so more is not the release
_CIFAR_BATCH_MAX_BYTES = 64 << 20
_CIFAR_MEMBER = "cifar-10-batches-py/test_batch"
_CIFAR_FIX = "delete it and call losslab.data.fetch('cifar10h-catdog') to download the official release"


def cifar10_test_from_tar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) of the CIFAR-10 test batch in the official tarball.

    The batch is a pickle, but it is never unpickled: :func:`read_cifar10_batch` reads it
    opcode by opcode and builds only arrays, lists, numbers and strings, so a tampered file
    (or one loaded with ``verify=False``) cannot run code, whatever its checksum.
    """
    where = f"{path} ({_CIFAR_MEMBER})"
    try:
        with tarfile.open(path, "r:gz") as tar:
            try:
                member = tar.extractfile(_CIFAR_MEMBER)
            except KeyError:
                member = None
            if member is None:
                raise LosslabError(f"{path}: no {_CIFAR_MEMBER} file inside; expected the CIFAR-10 python release: {_CIFAR_FIX}")
            data = member.read(_CIFAR_BATCH_MAX_BYTES + 1)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise LosslabError(f"{path} is not a readable .tar.gz ({exc}); expected the CIFAR-10 python release: {_CIFAR_FIX}") from None
    if len(data) > _CIFAR_BATCH_MAX_BYTES:
        raise LosslabError(
            f"{where} is over {_CIFAR_BATCH_MAX_BYTES >> 20} MB; the official test batch is 31 MB: {_CIFAR_FIX}"
        )
    batch = read_cifar10_batch(data, where=where)
    images, labels = batch.get(b"data"), batch.get(b"labels")
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 2 and images.shape[1] == 3072):
        found = f"an array {images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise LosslabError(f"{where}: 'data' is {found}; expected a uint8 array (N, 3072): {_CIFAR_FIX}")
    labels = labels if isinstance(labels, np.ndarray) else np.asarray(labels if isinstance(labels, list) else [None])
    if labels.shape != (images.shape[0],) or labels.dtype.kind not in "iu" or ((labels < 0) | (labels > 9)).any():
        raise LosslabError(f"{where}: 'labels' is not {images.shape[0]} class numbers 0..9, one per image: {_CIFAR_FIX}")
    # CIFAR-10 stores each image as 1024 red, then 1024 green, then 1024 blue values, rows first.
    return images.reshape(-1, 3, 32, 32), labels.astype(np.int64)


class _Ref(tuple):
    """A global ``(module, name)`` that a pickle names: kept as its name, never imported."""


class _Pending:
    """An array or dtype that a REDUCE opcode began and a BUILD opcode completes (what ``__setstate__`` would do)."""

    def __init__(self, kind: str, args: tuple) -> None:
        self.kind, self.args, self.state = kind, args, None


_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}
#: the only globals a CIFAR-10 batch names (numpy's array and dtype pickles; the bytes codec of Python 3's
#: protocol 2). They are never imported: :func:`read_cifar10_batch` replays each one itself.
_CIFAR_GLOBALS = _RECONSTRUCT | _FROMBUFFER | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


def read_cifar10_batch(data: bytes, *, where: str = "the batch") -> dict:
    """The dictionary in a CIFAR-10 python batch, read without unpickling it.

    Walks the pickle's opcodes (:func:`pickletools.genops`, which parses and executes
    nothing) on a small stack machine that knows containers, numbers, strings, numpy
    arrays and dtypes and nothing else: any other global (``os.system``, ``builtins.eval``,
    ...) or opcode is refused with a one-line :class:`LosslabError`, before anything is
    built from it. String keys come back as ``bytes``, as ``pickle.load(f, encoding="bytes")``
    gives them. Numeric dtypes only (no object arrays).

    >>> import pickle
    >>> batch = read_cifar10_batch(pickle.dumps({b"labels": [3, 5], b"data": np.arange(4, dtype=np.uint8)}, protocol=2))
    >>> batch[b"labels"], batch[b"data"].tolist()
    ([3, 5], [0, 1, 2, 3])
    >>> read_cifar10_batch(pickle.dumps(eval))
    Traceback (most recent call last):
    ...
    losslab._errors.LosslabError: the batch: names builtins.eval, which a CIFAR-10 batch never does, so it was not read; ...
    """
    import pickletools

    def bad(what: str) -> LosslabError:
        return LosslabError(
            f"{where}: {what}, which a CIFAR-10 batch never does, so it was not read; the file is not the official "
            f"release: {_CIFAR_FIX}"
        )

    mark = object()
    stack: list[Any] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list:
        # by identity: list.index would compare with ==, which an array answers elementwise
        i = max((j for j, x in enumerate(stack) if x is mark), default=-1)
        if i < 0:
            raise bad("closes a MARK it never opened")
        items = stack[i + 1 :]
        del stack[i:]
        return items

    def dtype_of(x: Any) -> np.dtype:
        if not (isinstance(x, _Pending) and x.kind == "dtype"):
            raise bad(f"gives an array a dtype of type {type(x).__name__}")
        spec = x.args[0].decode("ascii", "replace") if isinstance(x.args[0], bytes) else x.args[0]
        if not isinstance(spec, str):
            raise bad(f"builds a dtype from a {type(spec).__name__}")
        try:
            dt = np.dtype(spec)  # parses the string: never evaluates it
        except TypeError:
            raise bad(f"builds an unknown dtype {spec!r}") from None
        if dt.kind not in "biuf":
            raise bad(f"builds a dtype {spec!r}")
        order = x.state[1] if isinstance(x.state, tuple) and len(x.state) > 1 else "|"
        order = order.decode("ascii", "replace") if isinstance(order, bytes) else order
        return dt.newbyteorder(">") if order == ">" else dt

    def array_of(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
        dt = dtype_of(dtype)
        if not isinstance(buf, (bytes, bytearray)):
            raise bad(f"fills an array from a {type(buf).__name__}")
        if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise bad(f"gives an array the shape {shape!r}")
        if math.prod(shape) * dt.itemsize != len(buf):
            raise bad(f"gives an array of shape {shape} {len(buf)} bytes")
        return np.frombuffer(buf, dtype=dt).reshape(shape, order=order)

    def resolve(x: Any) -> Any:
        if isinstance(x, _Pending) and x.kind == "array":
            state = x.state
            if not (isinstance(state, tuple) and len(state) in (4, 5)):
                raise bad("builds an array without its state")
            shape, dtype, fortran, raw = state[-4:]
            return array_of(raw, dtype, shape, "F" if fortran else "C")
        if isinstance(x, _Pending):
            raise bad("leaves a dtype as a value")
        return x

    def call(ref: _Ref, args: Any) -> Any:
        if not isinstance(args, tuple):
            raise bad(f"calls {ref[0]}.{ref[1]} with a {type(args).__name__}")
        if ref == ("_codecs", "encode") and len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            return args[0].encode("latin-1")
        if ref in _RECONSTRUCT and len(args) == 3 and isinstance(args[0], _Ref) and args[0] == ("numpy", "ndarray"):
            return _Pending("array", args)
        if ref == ("numpy", "dtype") and len(args) == 3:
            return _Pending("dtype", args)
        if ref in _FROMBUFFER and len(args) == 4 and args[3] in ("C", "F"):
            return array_of(args[0], args[1], args[2], args[3])
        raise bad(f"calls {ref[0]}.{ref[1]} with {len(args)} argument(s)")

    strings = {"STRING", "BINSTRING", "SHORT_BINSTRING"}
    plain = {
        "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
        "BINUNICODE8", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    }  # fmt: skip
    consts = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if len(stack) != 1 or not isinstance(stack[0], dict):
                    raise bad(f"holds a {type(stack[-1]).__name__ if stack else 'nothing'} instead of one dictionary")
                return {k: resolve(v) for k, v in stack[0].items()}
            if name in strings:
                stack.append(arg.encode("latin-1"))  # Python 2 str: bytes, as encoding="bytes" reads it
            elif name in plain:
                stack.append(arg)
            elif name in consts:
                stack.append(consts[name])
            elif name == "MARK":
                stack.append(mark)
            elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
                stack.append({} if name == "EMPTY_DICT" else [] if name == "EMPTY_LIST" else ())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = stack[-n:]
                del stack[-n:]
                stack.append(tuple(items))
            elif name in ("TUPLE", "LIST"):
                items = pop_mark()
                stack.append(tuple(items) if name == "TUPLE" else list(items))
            elif name in ("DICT", "SETITEM", "SETITEMS"):
                if name == "SETITEM":
                    items = stack[-2:]
                    del stack[-2:]
                else:
                    items = pop_mark()
                if name == "DICT":
                    stack.append({})
                target = stack[-1]
                if not isinstance(target, dict) or len(items) % 2:
                    raise bad(f"sets items of a {type(target).__name__}")
                for k, v in zip(items[::2], items[1::2]):
                    if not isinstance(k, (str, bytes, int)):
                        raise bad(f"keys a dictionary by a {type(k).__name__}")
                    target[k] = v
            elif name in ("APPEND", "APPENDS"):
                items = [stack.pop()] if name == "APPEND" else pop_mark()
                if not isinstance(stack[-1], list):
                    raise bad(f"appends to a {type(stack[-1]).__name__}")
                stack[-1].extend(items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[arg])
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = arg.partition(" ")
                else:
                    module, attr = stack[-2:]
                    del stack[-2:]
                if (module, attr) not in _CIFAR_GLOBALS:
                    raise bad(f"names {module}.{attr}")
                stack.append(_Ref((module, attr)))
            elif name == "REDUCE":
                args = stack.pop()
                ref = stack.pop()
                if not isinstance(ref, _Ref):
                    raise bad(f"calls a {type(ref).__name__}")
                stack.append(call(ref, args))
            elif name == "BUILD":
                state = stack.pop()
                if not (isinstance(stack[-1], _Pending) and stack[-1].state is None):
                    raise bad(f"sets the state of a {type(stack[-1]).__name__}")
                stack[-1].state = state
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(stack[-1])
            else:
                raise bad(f"uses the pickle opcode {name}")
    except LosslabError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, UnicodeError, OverflowError, EOFError) as exc:
        raise LosslabError(f"{where} is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc}): {_CIFAR_FIX}") from None
    raise LosslabError(f"{where} ends before its pickle's STOP opcode (truncated): {_CIFAR_FIX}")
