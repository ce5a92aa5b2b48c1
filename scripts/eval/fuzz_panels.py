#!/usr/bin/env python3
"""Damages copies of a panel file at random and runs `mifq quantify`, `mifq unmix` and `mifq
segment --panel` with each on a small simulated slide: every command must exit 0, or 1 with one
line on stderr (notes aside), and never crash or hang (60 s); a command that took over 20 s is
reported as slow. Failing cases are kept in OUT/c<k>/ (the panel and what each command said).

  python3 scripts/eval/fuzz_panels.py [PANEL] [--cases N] [--seed S] [--out DIR]

PANEL defaults to panels/escc-opal7.json; the slide is simulated with it once (768², seed 7).
Damage (one to three edits a case, on the parsed JSON unless said): a value anywhere replaced by
an extreme or odd number (0, −1, ±1e308, 1e-308, 2⁶³, 1e9, 0.001, −0), a value of another type
(text, true, null, [], {}), a number written as text; a key deleted; an unknown key added; a
list's entry repeated, deleted, or the list emptied; two entries of a list swapped; and, on the
text, NaN or Infinity where a number was (not JSON), or the file cut short. With --scale, one to
three numbers are multiplied instead (by 0, 0.01, 0.1, 0.5, 2, 10, 100, 10⁴ or −1), which more
panels survive. mifq from .build/release (swift build -c release).
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MIFQ = os.path.join(ROOT, ".build", "release", "mifq")
NUMBERS = [0, -1, 1e308, -1e308, 1e-308, 2 ** 63, 1e9, 0.001, -0.0, 3, 0.5, 100000]
OTHERS = ["x", "", True, None, [], {}, "DAPI", "Opal 570"]


def paths(node, prefix=()):
    """Every path to a value in the JSON tree (the root excluded)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append(prefix + (k,))
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append(prefix + (i,))
            out += paths(v, prefix + (i,))
    return out


def parent(root, path):
    node = root
    for p in path[:-1]:
        node = node[p]
    return node


def scale(panel, rnd):
    """One number of the panel multiplied by 0, 0.01, 0.1, 0.5, 2, 10, 100, 10⁴ or −1: values a
    unit mix-up or a typo gives, most of them inside what the panel's checks accept."""
    numbers = [p for p in paths(panel) if isinstance(parent(panel, p)[p[-1]], (int, float))
               and not isinstance(parent(panel, p)[p[-1]], bool)]
    if numbers:
        p = rnd.choice(numbers)
        parent(panel, p)[p[-1]] *= rnd.choice([0, 0.01, 0.1, 0.5, 2, 10, 100, 1e4, -1])


def edit(panel, rnd):
    all_paths = paths(panel)
    leaves = [p for p in all_paths if not isinstance(parent(panel, p)[p[-1]], (dict, list))]
    # Values are edited at the leaves four times in five (a whole section replaced stops at decoding).
    path = rnd.choice(leaves if leaves and rnd.random() < 0.8 else all_paths)
    holder, key = parent(panel, path), path[-1]
    value = holder[key]
    kind = rnd.choice(["number", "number", "number", "type", "text-number", "delete", "unknown", "list"])
    if kind == "number":
        holder[key] = rnd.choice(NUMBERS)
    elif kind == "type":
        holder[key] = rnd.choice(OTHERS)
    elif kind == "text-number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        holder[key] = str(value)
    elif kind == "delete":
        del holder[key]
    elif kind == "unknown" and isinstance(value, dict):
        value[rnd.choice(["extra", "minimum", "name", "_note", "Threshold"])] = rnd.choice(NUMBERS + OTHERS)
    elif kind == "list":
        lists = [p for p in all_paths if isinstance(parent(panel, p)[p[-1]], list)]
        if not lists:
            return
        p = rnd.choice(lists)
        target = parent(panel, p)[p[-1]]
        op = rnd.choice(["repeat", "remove", "empty", "swap"])
        if op == "repeat" and target:
            target.insert(rnd.randrange(len(target) + 1), json.loads(json.dumps(rnd.choice(target))))
        elif op == "remove" and target:
            del target[rnd.randrange(len(target))]
        elif op == "empty":
            target.clear()
        elif op == "swap" and len(target) > 1:
            i, j = rnd.sample(range(len(target)), 2)
            target[i], target[j] = target[j], target[i]


def damaged(base, rnd, scaling):
    panel = json.loads(base)
    for _ in range(rnd.randint(1, 3)):
        try:
            (scale if scaling else edit)(panel, rnd)
        except (KeyError, IndexError, TypeError):
            pass
    text = json.dumps(panel, indent=1)
    r = rnd.random()
    if r < 0.05:
        # NaN or Infinity for a number: not JSON, as some writers emit it.
        numbers = list(re.finditer(r"(?<=: )-?[0-9][0-9.e+-]*", text))
        if numbers:
            m = rnd.choice(numbers)
            text = text[:m.start()] + rnd.choice(["NaN", "Infinity", "-Infinity"]) + text[m.end():]
    elif r < 0.08:
        text = text[: rnd.randrange(len(text))]
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("panel", nargs="?", default=os.path.join(ROOT, "panels", "escc-opal7.json"))
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="/tmp/mifq-fuzz-panels")
    ap.add_argument("--scale", action="store_true", help="only scale numbers (more panels pass the checks)")
    ap.add_argument("--keep", action="store_true", help="keep every case's folder, not only the failing ones")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    base = open(a.panel).read()
    os.makedirs(a.out, exist_ok=True)
    sim = os.path.join(a.out, "sim")
    if not os.path.exists(os.path.join(sim, "slides", "P001_S1.ome.tif")):
        shutil.rmtree(sim, ignore_errors=True)
        subprocess.run([MIFQ, "simulate", "--out", sim, "--patients", "1", "--size", "768x768", "--seed", "7",
                        "--panel", a.panel, "--no-masks", "--quiet"], check=True, capture_output=True)
    slide = os.path.join(sim, "slides", "P001_S1.ome.tif")
    failed = 0
    ran = {"quantify": 0, "unmix": 0, "segment": 0}
    for k in range(a.cases):
        d = os.path.join(a.out, f"c{k}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        panel = os.path.join(d, "panel.json")
        open(panel, "w").write(damaged(base, rnd, a.scale))
        bad, said = [], []
        for cmd in (["quantify", slide, "--panel", panel, "--out", os.path.join(d, "q"), "--threads", "2", "--quiet"],
                    ["unmix", slide, "--panel", panel, "--out", os.path.join(d, "u.ome.tif")],
                    ["segment", slide, "--panel", panel, "--channel", "DAPI", "--out", os.path.join(d, "s.tif"), "--quiet"]):
            t = time.time()
            try:
                r = subprocess.run([MIFQ] + cmd, capture_output=True, timeout=60)
            except subprocess.TimeoutExpired:
                bad.append(f"{cmd[0]}: hang")
                continue
            took = time.time() - t
            ran[cmd[0]] += r.returncode == 0
            errors = [l for l in r.stderr.decode(errors="replace").splitlines()
                      if l.strip() and not l.startswith("mifq: note") and not l.startswith("note:")]
            said.append(f"{cmd[0]} exit {r.returncode} ({took:.1f} s): " + " | ".join(errors[:3]))
            if r.returncode not in (0, 1) or (r.returncode == 1 and len(errors) != 1):
                bad.append(f"{cmd[0]}: exit {r.returncode}: {' | '.join(errors[:3])}")
            elif took > 20:
                bad.append(f"{cmd[0]}: slow, {took:.0f} s")
        if bad or a.keep:
            open(os.path.join(d, "said.txt"), "w").write("\n".join(said) + "\n")
        if bad:
            failed += 1
            print(f"case {k}: " + "; ".join(bad), flush=True)
        elif not a.keep:
            shutil.rmtree(d)
    print(f"{a.cases} cases, {failed} failed; exit 0 (the panel accepted and the work done): "
          + ", ".join(f"{c} {n}" for c, n in ran.items()))


if __name__ == "__main__":
    main()
