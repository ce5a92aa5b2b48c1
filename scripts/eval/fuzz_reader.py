#!/usr/bin/env python3
"""Damages copies of TIFF files at random and runs mifq on each: `inspect --stats` and `quantify`
must exit 0 or 1 (with one line on stderr for inspect), never crash (a signal), hang (60 s) or
exit otherwise. Each failing case is kept as FAILDIR/case<k>.<ext> with the command that failed.

  python3 scripts/eval/fuzz_reader.py [--cases N] [--seed S] [--modes ifd,dims,...] FILE...

Modes (a case picks one at random):
  ifd     1-4 random bytes in IFD entries or the values they point to
  ifdword a 32-bit value in an entry or its value set to 0, 1, 2^31-1, 2^32-1, 65536 or random
  dims    one entry among size, tile, strip, sample, compression and photometric tags set to
          an extreme SHORT or LONG value
  xml     the ImageDescription (OME-XML, QPI XML) edited: numbers made nan/inf/-1/huge,
          markup characters sprinkled
  xmlgrow one quoted number of the ImageDescription replaced by a longer one (10^11, 4·10^18,
          2^20, -7, 10^23: SizeC, SizeZ, PlaneCount, IFD…), the text moved to the file's end (the
          xml mode keeps the text's length, so its numbers cannot grow)
  any     1-20 random bytes anywhere (mostly compressed pixel data)
  trunc   the file cut at a random length
Needs numpy and tifffile (to find the IFDs); mifq from .build/release (swift build -c release).
"""
import argparse
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

import tifffile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MIFQ = os.path.join(ROOT, ".build", "release", "mifq")
PANEL = os.path.join(ROOT, "panels", "escc-opal7.json")
DIM_TAGS = (256, 257, 258, 259, 262, 277, 278, 284, 322, 323, 338, 339)


def entries(path):
    """(entry offset, value offset, is BigTIFF) of every tag of every page, and descriptions."""
    spots, descs = [], []
    with tifffile.TiffFile(path) as t:
        for k, page in enumerate(t.pages):
            if k == 64:  # a chain that loops (ifd_loop.tif, or one a mutation made) has no end
                break
            for tag in page.tags.values():
                spots.append((tag.offset, tag.code))
                if tag.code == 270 and tag.count > 20:
                    descs.append((tag.valueoffset, tag.count, tag.offset))
                elif tag.valueoffset > tag.offset + 12:
                    spots.append((tag.valueoffset, -1))
        return spots, descs, t.is_bigtiff


def mutate(data, src, mode, rnd):
    try:
        spots, descs, big = entries(src)
    except Exception:  # a file tifffile cannot parse either: damaged at random only
        mode = rnd.choice(["any", "trunc"])
    if mode == "trunc":
        return data[: rnd.randrange(8, len(data))]
    if mode == "any":
        for _ in range(rnd.randint(1, 20)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
    elif mode == "ifd":
        for _ in range(rnd.randint(1, 4)):
            o = rnd.choice(spots)[0] + rnd.randrange(12)
            if o < len(data):
                data[o] = rnd.randrange(256)
    elif mode == "ifdword":
        o = rnd.choice(spots)[0] + rnd.choice([2, 4, 8])
        if o + 4 <= len(data):
            v = rnd.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000, rnd.randrange(1 << 32)])
            data[o:o + 4] = struct.pack("<I", v)
    elif mode == "dims":
        o = rnd.choice([s for s in spots if s[1] in DIM_TAGS])[0]
        short = rnd.random() < 0.5
        v = rnd.choice([0, 1, 2, 3, 7, 15, 17, 255, 256, 65535, 65536, 0x7FFFFFFF, 0xFFFFFFFF, rnd.randrange(1 << 32)])
        if short:
            v &= 0xFFFF
        if big:
            data[o + 2:o + 20] = struct.pack("<HQQ", 3 if short else 4, 1, v)
        else:
            data[o + 2:o + 12] = struct.pack("<HII", 3 if short else 4, 1, v)
    elif mode == "xml" and descs:
        o, c, _ = rnd.choice(descs)
        text = data[o:o + c]
        numbers = [m.span() for m in re.finditer(rb"[0-9]+(\.[0-9]+)?", bytes(text))]
        for _ in range(rnd.randint(1, 3)):
            if numbers and rnd.random() < 0.5:
                a, b = rnd.choice(numbers)
                rep = rnd.choice([b"nan", b"-1", b"0", b"1e308", b"inf", b"99999999999", b"0.000001", b"", b"x"])
                text[a:b] = (rep + b" " * (b - a))[: b - a]
            else:
                a = rnd.randrange(len(text))
                for i in range(a, min(a + rnd.randint(1, 8), len(text))):
                    text[i] = rnd.choice(b'<>"=/ &;abcXYZ\x00\xff')
        data[o:o + c] = text
    elif mode == "xmlgrow" and descs:
        o, c, entry = rnd.choice(descs)
        text = bytes(data[o:o + c]).rstrip(b"\0")
        numbers = list(re.finditer(rb'"-?[0-9]+(\.[0-9]+)?"', text))
        if numbers:
            m = rnd.choice(numbers)
            rep = rnd.choice([b'"100000000000"', b'"4000000000000000000"', b'"1048576"', b'"-7"', b'"99999999999999999999999"'])
            text = text[:m.start()] + rep + text[m.end():]
        data += b"\0" * (-len(data) % 8)
        at = len(data)
        data += text + b"\0"
        if big:
            data[entry + 4:entry + 20] = struct.pack("<QQ", len(text) + 1, at)
        else:
            data[entry + 4:entry + 12] = struct.pack("<II", len(text) + 1, at)
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--modes", default="ifd,ifd,ifdword,dims,dims,xml,xmlgrow,any,trunc")
    ap.add_argument("--faildir", default="fuzz-failures")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    modes = a.modes.split(",")
    work = tempfile.mkdtemp(prefix="mifq-fuzz-")
    failures = 0
    for k in range(a.cases):
        src = rnd.choice(a.files)
        mode = rnd.choice(modes)
        data = mutate(bytearray(open(src, "rb").read()), src, mode, rnd)
        ext = ".qptiff" if src.endswith(".qptiff") else ".ome.tif"
        case = os.path.join(work, "case" + ext)
        with open(case, "wb") as fh:
            fh.write(data)
        out = os.path.join(work, "out")
        for cmd in ([MIFQ, "inspect", case, "--stats"],
                    [MIFQ, "quantify", case, "--panel", PANEL, "--out", out, "--quiet", "--no-cells", "--pixel-size", "0.5"]):
            shutil.rmtree(out, ignore_errors=True)
            try:
                r = subprocess.run(cmd, capture_output=True, timeout=60)
                err = r.stderr.decode(errors="replace").strip().splitlines()
                bad = r.returncode not in (0, 1) or (cmd[1] == "inspect" and r.returncode == 1 and len(err) != 1)
                why = f"exit {r.returncode}: {' | '.join(err[:2])}"
            except subprocess.TimeoutExpired:
                bad, why = True, "no answer in 60 s"
            if bad:
                failures += 1
                os.makedirs(a.faildir, exist_ok=True)
                kept = os.path.join(a.faildir, f"case{k}{ext}")
                shutil.copy(case, kept)
                print(f"case {k} ({mode} of {src}): mifq {cmd[1]} {kept}: {why}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"{a.cases} cases, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
