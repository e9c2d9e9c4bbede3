"""Reading uploaded pickles without running their code.

A pickle names the callables that rebuild its objects and the state they are given, and
`pickle.load` trusts both. This unpickler resolves only the few callables that rebuild plain
containers, numbers, strings and NumPy arrays, each wrapped to accept only the arguments
NumPy itself writes; it sets state only on arrays and dtypes, checked against what a genuine
array or dtype of that kind holds. Anything else is refused before it runs, and nothing it
builds is larger than the bytes that describe it.
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import pickle
from typing import IO, Any, ClassVar

from lakehouse.errors import InvalidInputError

# Kinds of NumPy data a pickle may hold: booleans, numbers, text, bytes, and objects (whose
# elements are themselves unpickled under these rules).
KINDS = frozenset("biufcUSO")


class UnsafePickleError(InvalidInputError):
    """The pickle is malformed or names something other than data."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem, field="file")


def _refuse(problem: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(problem)


class _NdarrayClass:
    """Stands for numpy.ndarray in a pickle: an argument of _reconstruct, never called."""


NDARRAY = _NdarrayClass()


def _fresh_dtype(name: Any, align: Any = False, copy: Any = True) -> Any:
    import numpy as np

    if not isinstance(name, str) or align is not False:
        raise _refuse("a NumPy dtype must be named by a simple type code")
    dtype = np.dtype(name, False, True)  # a copy: the state set on it later stays its own
    if dtype.kind not in KINDS or dtype.names is not None or dtype.subdtype is not None:
        raise _refuse(f"NumPy dtype '{name}' is not plain data")
    return dtype


def _checked_dtype(dtype: Any) -> Any:
    import numpy as np

    if not isinstance(dtype, np.dtype):
        raise _refuse("expected a NumPy dtype")
    _fresh_dtype(dtype.str.lstrip("<>|="))
    return dtype


def _element_count(shape: Any) -> int:
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise _refuse("an array shape must be a tuple of sizes")
    return math.prod(shape)


def _raw(data: Any, dtype: Any, count: int) -> None:
    """Raw array bytes: never for objects, and exactly as many as the shape needs."""
    if dtype.hasobject:
        raise _refuse("object arrays are rebuilt from lists, not from raw bytes")
    if not isinstance(data, bytes | bytearray) or len(data) != count * dtype.itemsize:
        raise _refuse("array data does not match its shape and dtype")


def _reconstruct(subtype: Any, shape: Any, code: Any) -> Any:
    import numpy as np

    if subtype is not NDARRAY or shape != (0,) or code != b"b":
        raise _refuse("arrays are rebuilt only as NumPy pickles them")
    return np.ndarray((0,), dtype="b")


def _scalar(dtype: Any, data: Any) -> Any:
    from numpy._core import multiarray

    _raw(data, _checked_dtype(dtype), 1)
    return multiarray.scalar(dtype, data)


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> Any:
    from numpy._core import numeric

    _raw(buffer, _checked_dtype(dtype), _element_count(shape))
    if order not in ("C", "F"):
        raise _refuse("array order must be C or F")
    return numeric._frombuffer(bytes(buffer), dtype, shape, order)  # type: ignore[attr-defined]


def _latin1(text: Any, encoding: Any) -> bytes:
    if not isinstance(text, str) or encoding != "latin1":
        raise _refuse("bytes are rebuilt only from latin-1 text")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): _fresh_dtype,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _latin1,  # protocol 2 writes bytes as encode(text, "latin1")
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _frombuffer for core in ("core", "_core")},
}


class _DataUnpickler(pickle._Unpickler):  # the Python unpickler: its BUILD can be checked
    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)
    stack: list[Any]  # the Python unpickler's own state, which its stub leaves out
    proto: int

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3:  # Python 2 names, as the standard unpickler maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _refuse(
                f"'{module}.{name}' is not data; only containers, numbers, strings and "
                "NumPy arrays are accepted"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise _refuse("persistent references are not accepted")

    def load_build(self) -> None:
        import numpy as np

        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, np.dtype):
            genuine = np.dtype(target.str.lstrip("<>|="), False, True).__reduce__()[2]
            if not (
                isinstance(state, tuple)
                and len(state) == len(genuine)
                and state[1] in ("<", ">", "|", "=")
                and state[2:] == genuine[2:]
                and state[0] == genuine[0]
            ):
                raise _refuse("a NumPy dtype's state is not one NumPy writes")
        elif type(target) is np.ndarray:
            if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
                raise _refuse("a NumPy array's state is not one NumPy writes")
            _, shape, dtype, fortran, data = state
            count = _element_count(shape)
            _checked_dtype(dtype)
            if not isinstance(fortran, bool):
                raise _refuse("a NumPy array's order flag must be a boolean")
            if dtype.hasobject:
                if not isinstance(data, list) or len(data) != count:
                    raise _refuse("object array data does not match its shape")
            else:
                _raw(data, dtype, count)
        else:
            raise _refuse(f"the state of a {type(target).__name__} cannot be set")
        target.__setstate__(state)

    dispatch[pickle.BUILD[0]] = load_build


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
