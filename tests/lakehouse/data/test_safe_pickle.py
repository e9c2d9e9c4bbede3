"""The restricted unpickler: data comes back as pickled; anything else is refused unrun."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy._core import multiarray

from lakehouse.data.safe_pickle import UnsafePickleError, loads

DATA: dict[str, Any] = {
    "X": np.random.default_rng(0).random((4, 5)),
    "y": np.arange(4),
    "objects": np.array(["a", None, 3], dtype=object),
    "text": np.array(["ab", "c"]),
    "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "flags": np.array([True, False]),
    "complex": np.array([1 + 2j]),
    "scalar": np.float32(2.5),
    "metadata": {"names": ["a"], "more": (1, 2.0, "x", b"raw", {3}, frozenset([4]), None)},
}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_data_comes_back_as_pickled(protocol: int) -> None:
    expected = pickle.loads(pickle.dumps(DATA, protocol=protocol))
    got = loads(pickle.dumps(DATA, protocol=protocol))
    assert set(got) == set(DATA)
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
            assert got[key].tolist() == value.tolist(), key
        else:
            assert got[key] == value, key


class Reduces:
    """Pickles as whatever `__reduce__` it is given."""

    def __init__(self, *reduced: Any) -> None:
        self.reduced = reduced

    def __reduce__(self) -> tuple[Any, ...]:
        return self.reduced


def test_code_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for payload in (
        Reduces(os.system, (f"touch {marker}",)),
        {"X": Reduces(eval, (f"__import__('os').system('touch {marker}')",))},
        [Reduces(open, (str(marker), "w"))],
    ):
        for protocol in (0, 2, 5):
            with pytest.raises(UnsafePickleError, match="is not data"):
                loads(pickle.dumps(payload, protocol=protocol))
    assert not marker.exists()


def test_numpy_callables_take_only_what_numpy_writes() -> None:
    f8, objects = np.dtype("f8"), np.dtype("O")
    empty = (np.ndarray, (0,), b"b")
    cases = [
        # an array far larger than the bytes that describe it
        Reduces(multiarray._reconstruct, empty, (1, (10**6,), f8, False, b"")),
        Reduces(multiarray._reconstruct, (np.ndarray, (10**6,), b"b")),
        # object pointers read from raw bytes
        Reduces(
            multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), objects, False, b"A" * 8)
        ),
        Reduces(multiarray.scalar, (objects, b"A" * 8)),
        # the array class called directly allocates whatever shape it is given
        Reduces(np.ndarray, ((10**6,),)),
        Reduces(bytearray, (10**7,)),
    ]
    for case in cases:
        with pytest.raises(UnsafePickleError):
            loads(pickle.dumps(case, protocol=2))


def test_a_dtype_stripped_of_its_object_flag_is_refused() -> None:
    # dtype('O8') with its flags set to 0, then read as a scalar: a pointer from 8 bytes.
    payload = (
        b"\x80\x02cnumpy._core.multiarray\nscalar\ncnumpy\ndtype\n"
        b"X\x02\x00\x00\x00O8\x89\x88\x87R"
        b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        b"C\x08AAAAAAAA\x86R."
    )
    with pytest.raises(UnsafePickleError, match="dtype's state"):
        loads(payload)


@pytest.mark.parametrize("payload", [b"", b"garbage", b"\x80\x05N", pickle.dumps(DATA)[:-10]])
def test_malformed_pickles_are_refused(payload: bytes) -> None:
    with pytest.raises(UnsafePickleError):
        loads(payload)
