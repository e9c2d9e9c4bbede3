"""Reading uploaded pickles without running their code.

A pickle names the callables that rebuild its objects, and `pickle.load` calls whatever it
names. The unpickler here resolves only the few callables that rebuild plain containers,
numbers, strings and NumPy arrays; any other name is refused before anything runs.
"""

from __future__ import annotations

import io
import pickle
from typing import IO, Any

from lakehouse.errors import InvalidInputError


class UnsafePickleError(InvalidInputError):
    """The pickle is malformed or names something other than data."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem, field="file")


def _allowed() -> dict[tuple[str, str], Any]:
    import codecs

    import numpy as np
    from numpy._core import multiarray, numeric

    rebuilders = {
        "_reconstruct": multiarray._reconstruct,
        "scalar": multiarray.scalar,
    }
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex,
        ("builtins", "slice"): slice,
        # Protocol 2 writes bytes as codecs.encode(text, "latin1").
        ("_codecs", "encode"): codecs.encode,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        for name, function in rebuilders.items():
            allowed[(module, name)] = function
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = numeric._frombuffer  # type: ignore[attr-defined]
    return allowed


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(stream)
        self._allowed = _allowed()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"'{module}.{name}' is not data; only containers, numbers, strings and "
                "NumPy arrays are accepted"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent references are not accepted")


def load(stream: IO[bytes]) -> Any:
    """The object a pickle holds, if it is data; UnsafePickleError otherwise."""
    try:
        return _DataUnpickler(stream).load()
    except pickle.UnpicklingError as exc:
        raise UnsafePickleError(str(exc)) from exc
    except MemoryError as exc:
        raise UnsafePickleError("the pickle is too large to read") from exc
    except Exception as exc:  # malformed input fails in many ways, all of them harmless here
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnsafePickleError(f"not a readable pickle: {problem}") from exc


def loads(data: bytes) -> Any:
    return load(io.BytesIO(data))
