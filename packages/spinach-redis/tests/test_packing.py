"""The script calls' own RESP packing, with and without hiredis."""

from __future__ import annotations

import hiredis  # a dev dependency: the reference packer

from spinach.brokers.redis import scripts

VALUES = ["{ns}:queue:default", b"\x00binary\xff", 0, -12, 3.5, 1700000000.123456, "", "é"]


def test_python_packer_matches_hiredis(monkeypatch):
    assert scripts._hiredis_pack is hiredis.pack_command
    with_hiredis = scripts._pack(b"EVALSHA", "a" * 40, 2, VALUES)
    monkeypatch.setattr(scripts, "_hiredis_pack", None)
    without = scripts._pack(b"EVALSHA", "a" * 40, 2, VALUES)
    assert without == with_hiredis
    assert without.startswith(b"*11\r\n$7\r\nEVALSHA\r\n$40\r\n")
