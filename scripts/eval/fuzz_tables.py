#!/usr/bin/env python3
"""Damages copies of a densities table and a clinical table at random and runs `mifq compare`,
`mifq survival` and `mifq report` on each pair: every command must exit 0, or 1 with one line on
stderr (notes aside), and never crash or hang (60 s). Failing cases are kept in OUT/c<k>/.

  python3 scripts/eval/fuzz_tables.py DENSITIES.csv CLINICAL.csv [--cases N] [--seed S] [--out DIR]

Damage (one kind a table, each table damaged in 60% of cases): random bytes; CSV tokens
inserted (quotes, separators, line breaks, NA, 1e308, nan, TRUE, a byte-order mark, "1,5");
the file cut short; a row repeated; cells set to extreme or odd numbers (±1e308, 1e-320, -5,
10^20, 2, 0.5, NA, empty). mifq from .build/release (swift build -c release).
"""
import argparse
import os
import random
import shutil
import subprocess

MIFQ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "release", "mifq")
TOKENS = [b'"', b",", b";", b"\t", b"\r", b"\n", b"NA", b"-1", b"1e308", b"nan", b"inf", b"-0", b"TRUE", b"", b"\xef\xbb\xbf", b"1,5"]
NUMBERS = [b"1e308", b"-1e308", b"0", b"-5", b"1e-320", b"99999999999999999999", b"NA", b"", b"2", b"0.5"]


def mutate(b, rnd):
    b = bytearray(b)
    kind = rnd.choice(["bytes", "tokens", "trunc", "dup", "cells"])
    if kind == "bytes":
        for _ in range(rnd.randint(1, 20)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    elif kind == "trunc":
        b = b[: rnd.randrange(len(b))]
    elif kind == "dup":
        lines = b.split(b"\n")
        lines.insert(rnd.randrange(len(lines)), lines[rnd.randrange(len(lines))])
        b = bytearray(b"\n".join(lines))
    elif kind == "tokens":
        for _ in range(rnd.randint(1, 10)):
            i = rnd.randrange(len(b) + 1)
            b[i:i] = rnd.choice(TOKENS)
    else:
        lines = b.split(b"\n")
        for _ in range(rnd.randint(1, 5)):
            i = rnd.randrange(1, max(2, len(lines)))
            if i < len(lines):
                f = lines[i].split(b",")
                f[rnd.randrange(len(f))] = rnd.choice(NUMBERS)
                lines[i] = b",".join(f)
        b = bytearray(b"\n".join(lines))
    return bytes(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("densities")
    ap.add_argument("clinical")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="/tmp/mifq-fuzz-tables")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    base_d, base_c = open(a.densities, "rb").read(), open(a.clinical, "rb").read()
    failed = 0
    for k in range(a.cases):
        d = os.path.join(a.out, f"c{k}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        dens, clin = os.path.join(d, "densities.csv"), os.path.join(d, "clinical.csv")
        open(dens, "wb").write(mutate(base_d, rnd) if rnd.random() < 0.6 else base_d)
        open(clin, "wb").write(mutate(base_c, rnd) if rnd.random() < 0.6 else base_c)
        out = os.path.join(d, "out")
        bad = []
        for cmd in (["compare", dens, "--clinical", clin, "--out", out], ["survival", dens, "--clinical", clin, "--out", out],
                    ["report", out]):
            try:
                r = subprocess.run([MIFQ] + cmd, capture_output=True, timeout=60)
            except subprocess.TimeoutExpired:
                bad.append(f"{cmd[0]}: hang")
                continue
            errors = [l for l in r.stderr.decode(errors="replace").splitlines() if not l.startswith("mifq: note")]
            if r.returncode not in (0, 1) or (r.returncode == 1 and len(errors) != 1):
                bad.append(f"{cmd[0]}: exit {r.returncode}: {' | '.join(errors[:3])}")
        if bad:
            failed += 1
            print(f"case {k}: " + "; ".join(bad))
        else:
            shutil.rmtree(d)
    print(f"{a.cases} cases, {failed} failed")


if __name__ == "__main__":
    main()
