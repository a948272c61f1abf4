#!/usr/bin/env python3
"""Marks one symbol-version requirement of an ELF shared library as WEAK, so that it loads on a system
whose libstdc++ lacks that version (Debian 12 stops at GLIBCXX_3.4.30).

Why: TorchSharp 0.107.0's libLibTorchSharp.so is linked with GCC 13 and asks for GLIBCXX_3.4.32 for one
symbol only, `_ZSt21ios_base_library_initv`, a dummy that no relocation uses. With the requirement
weak, the dynamic loader accepts the library (design notes, "TorchSharp on Debian 12").

Usage: weak_glibcxx.py FILE [VERSION]   (VERSION defaults to GLIBCXX_3.4.32)
Prints one of: "patched FILE", "already weak FILE", "no requirement FILE". Exit 1 on a file that is not a
64-bit little-endian ELF. Idempotent; the file is rewritten atomically (temporary file, then rename).
"""
import os
import struct
import sys
import tempfile

SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def find_requirement(data, version):
    """Offset of the Vernaux entry named `version` in .gnu.version_r, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] != SHT_GNU_VERNEED:
            continue
        strtab = sections[sh[6]]  # sh_link: the string table of the names
        strings_at = strtab[4]
        count = sh[7]  # sh_info: number of Verneed entries
        need = sh[4]
        for _ in range(count):
            _, cnt, _, aux, nxt = struct.unpack_from("<HHIII", data, need)
            at = need + aux
            for _ in range(cnt):
                _, flags, _, name, anext = struct.unpack_from("<IHHII", data, at)
                end = data.index(b"\0", strings_at + name)
                if data[strings_at + name:end].decode() == version:
                    return at, flags
                at += anext
            need += nxt
    return None


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    path = argv[1]
    version = argv[2] if len(argv) == 3 else "GLIBCXX_3.4.32"
    with open(path, "rb") as f:
        data = bytearray(f.read())
    try:
        found = find_requirement(data, version)
    except (ValueError, struct.error) as e:
        print(f"weak_glibcxx: {path}: {e}", file=sys.stderr)
        return 1
    if found is None:
        print(f"no requirement {path}")
        return 0
    at, flags = found
    if flags & VER_FLG_WEAK:
        print(f"already weak {path}")
        return 0
    struct.pack_into("<H", data, at + 4, flags | VER_FLG_WEAK)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".weak_glibcxx.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, os.stat(path).st_mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    print(f"patched {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
