#!/usr/bin/env python3
"""Compare a mifq quantify output folder with simulator truth (development aid).

    python3 scripts/eval/compare_truth.py SIMDIR QUANTDIR
Per slide: detection F1 (centroids within 3 um), per-phenotype F1, areas and densities vs truth."""
import csv, json, os, sys
import numpy as np
from scipy.spatial import cKDTree

sim, q = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(os.path.join(q, "slides"))):
    sid = name[:-5]
    r = json.load(open(os.path.join(q, "slides", name)))
    t = json.load(open(os.path.join(sim, "truth", sid + ".json")))
    truth = list(csv.DictReader(open(os.path.join(sim, "truth", sid + ".cells.csv"))))
    pred = list(csv.DictReader(open(os.path.join(q, "cells", sid + ".csv"))))
    tp = np.array([[float(c["x_um"]), float(c["y_um"])] for c in truth])
    pp = np.array([[float(c["x_um"]), float(c["y_um"])] for c in pred])
    d, idx = cKDTree(tp).query(pp, distance_upper_bound=3.0)
    # greedy one-to-one
    order = np.argsort(d)
    used = set(); match = {}
    for i in order:
        if np.isfinite(d[i]) and idx[i] not in used:
            used.add(idx[i]); match[i] = idx[i]
    det_f1 = 2 * len(match) / (len(tp) + len(pp))
    print(f"{sid}: cells truth {len(tp)} pred {len(pp)} detection F1 {det_f1:.3f}")
    print(f"  areas tumor {r['tumor_area_mm2']:.4f} vs {t['tumor_area_mm2']:.4f} ({100*(r['tumor_area_mm2']/t['tumor_area_mm2']-1):+.1f}%), stroma {r['stroma_area_mm2']:.4f} vs {t['stroma_area_mm2']:.4f} ({100*(r['stroma_area_mm2']/t['stroma_area_mm2']-1):+.1f}%)")
    for ph in t["counts"]:
        tpos = {i for i, c in enumerate(truth) if c[ph] == "1"}
        ppos = {i for i, c in enumerate(pred) if c[ph] == "1"}
        hit = sum(1 for i, j in match.items() if i in ppos and j in tpos)
        f1 = 2 * hit / max(1, len(tpos) + len(ppos))
        dens = []
        for reg in ["total", "tumor", "stroma"]:
            area = r["tissue_area_mm2"] if reg == "total" else r[f"{reg}_area_mm2"]
            pd_ = r["counts"][ph][reg] / area if area > 0 else float("nan")
            td = t["densities"][ph][reg]
            dens.append(f"{reg} {pd_:.0f}/{td:.0f}")
        print(f"  {ph:16s} F1 {f1:.3f} (truth {len(tpos)}, pred {len(ppos)})  " + "  ".join(dens))
