# tests/rig/pysnappy/sitecustomize.py - loaded by Python when this folder is
# on PYTHONPATH (the interop matrix puts it there for barman-cloud only).
#
# Debian 12's python3-snappy 0.5.3 cannot compute CRC-32C on Python 3.11: its
# C function _crc32c parses a "s#" argument without PY_SSIZE_T_CLEAN and
# raises SystemError, so snappy.StreamCompressor/StreamDecompressor, and
# with them barman-cloud's --snappy (WAL and base backups, both directions),
# fail. Swap in python3-crcmod's CRC-32C (the same Castagnoli CRC, C speed)
# when, and only when, the packaged one is broken. Nothing else changes.
try:
    import snappy.snappy as _snappy_mod

    try:
        _snappy_mod._crc32c(b"")
    except SystemError:
        import crcmod.predefined

        _snappy_mod._crc32c = crcmod.predefined.mkCrcFun("crc-32c")
except ImportError:
    pass
