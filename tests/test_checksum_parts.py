"""A large file's crc32 is summed in parts on every core and the parts combined: the same crc32 as zlib's
over the whole, whatever the split, so every recorded checksum stays valid."""

from __future__ import annotations

import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gyeol import _checksum
from gyeol._checksum import crc_combine, crc_parallel, file_sum


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_combined_crc_is_the_crc_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert crc_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_parts_summed_in_threads_give_zlibs_crc(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(_checksum, "PARALLEL_MIN", 64)  # parts of tens of bytes
    rng = np.random.default_rng(1)
    for cpus in (2, 3, 7):
        monkeypatch.setattr(_checksum, "_CPUS", cpus)
        for n in (0, 1, 31, 32, 33, 1000, 4099):
            data = rng.bytes(n)
            assert crc_parallel(data) == zlib.crc32(data), (cpus, n)
    data = rng.bytes(5000)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert file_sum(path).crc32 == zlib.crc32(data)
    assert file_sum(path, 1234).crc32 == zlib.crc32(data[:1234])


def test_a_map_closes_while_something_holds_the_summing_frames(tmp_path, monkeypatch) -> None:
    """A profiler or a traceback holding crc_parallel's frames (their memoryviews) must not stop file_sum's
    map from closing (BufferError: the views are released, not left to the collector)."""
    import sys
    import threading

    monkeypatch.setattr(_checksum, "PARALLEL_MIN", 64)
    monkeypatch.setattr(_checksum, "_CPUS", 3)
    data = np.random.default_rng(2).bytes(5000)
    path = tmp_path / "f"
    path.write_bytes(data)
    held = []

    def keep(frame, event, arg):
        if event == "return" and frame.f_code.co_name in ("crc_parallel", "crc_buffer"):
            held.append(frame)  # keeps the frame and its locals alive

    sys.setprofile(keep)
    threading.setprofile(keep)
    try:
        assert file_sum(path).crc32 == zlib.crc32(data)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    assert any(f.f_code.co_name == "crc_parallel" for f in held)


def test_the_fast_crc32_is_zlibs() -> None:
    """ISA-L's crc32 (the isal dependency) gives zlib's value, continued or not, on every length."""
    import zlib

    from gyeol import _checksum

    assert _checksum._crc32 is not zlib.crc32  # the dependency is installed and used
    data = np.random.default_rng(5).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    for n in (0, 1, 7, 64, 4095, 65537, len(data)):
        assert _checksum.crc32(data[:n]) == zlib.crc32(data[:n])
        assert _checksum.crc32(data[:n], 0x1234ABCD) == zlib.crc32(data[:n], 0x1234ABCD)
    assert _checksum.crc_parallel(data) == zlib.crc32(data)
