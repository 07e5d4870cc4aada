"""CRC-32C (Castagnoli), as TFRecord framing uses it, without TensorFlow or a C extension.

A byte-wise table CRC (reflected polynomial 0x82F63B78). Long buffers use a slicing-by-8
variant so that checking every record of a multi-gigabyte TFRecord stays practical in pure
Python; :func:`masked_crc32c` applies TFRecord's rotation + constant so that CRCs of data that
itself contains CRCs do not collide.
"""

from __future__ import annotations

__all__ = ["crc32c", "masked_crc32c"]

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _tables() -> list[list[int]]:
    base = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        base.append(crc)
    tables = [base]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ base[prev[i] & 0xFF] for i in range(256)])
    return tables


_T = _tables()


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C of ``data`` (continuing from ``crc``, the CRC of preceding bytes)."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    crc ^= 0xFFFFFFFF
    view = memoryview(data).cast("B")
    n = len(view)
    i = 0
    end8 = n - (n % 8)
    while i < end8:
        crc ^= view[i] | (view[i + 1] << 8) | (view[i + 2] << 16) | (view[i + 3] << 24)
        crc = (
            t7[crc & 0xFF] ^ t6[(crc >> 8) & 0xFF] ^ t5[(crc >> 16) & 0xFF] ^ t4[crc >> 24]
            ^ t3[view[i + 4]] ^ t2[view[i + 5]] ^ t1[view[i + 6]] ^ t0[view[i + 7]]
        )
        i += 8
    while i < n:
        crc = (crc >> 8) ^ t0[(crc ^ view[i]) & 0xFF]
        i += 1
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """TFRecord's masked CRC: ``((crc >> 15) | (crc << 17)) + 0xa282ead8`` modulo 2**32."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF
