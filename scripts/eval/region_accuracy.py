#!/usr/bin/env python3
"""Areas, densities per region and cell regions of `mifq quantify` against simulator truth, over
several simulated cohorts: the README's "areas and densities" row.

    python3 scripts/eval/region_accuracy.py [--per-slide] SIMDIR QUANTDIR [SIMDIR QUANTDIR ...]
Per slide: tissue / tumour / stroma area error (%), the range over the slides (each slide's with
--per-slide). Densities (count / area) per phenotype and
region, for the phenotype × region pairs with at least 30 true cells: median and worst error.
Cell regions: of the detected cells matched to a true cell (centroids within 3 µm), the share
whose region (tumour / stroma) is the true one, for all cells and for immune cells in nests."""
import csv
import json
import os
import sys

import numpy as np
from scipy.spatial import cKDTree

IMMUNE = {"cd8", "cd4", "cd68", "cd11c"}
args = sys.argv[1:]
per_slide = "--per-slide" in args
args = [a for a in args if a != "--per-slide"]
areas, rows, agree, agree_immune_tumour = [], [], [], []
for sim, q in zip(args[0::2], args[1::2]):
    for name in sorted(os.listdir(os.path.join(q, "slides"))):
        sid = name[:-5]
        r = json.load(open(os.path.join(q, "slides", name)))
        t = json.load(open(os.path.join(sim, "truth", sid + ".json")))
        areas.append([100 * (r[k] / t[k] - 1) for k in ["tissue_area_mm2", "tumor_area_mm2", "stroma_area_mm2"]])
        if per_slide:
            print(f"{sim} {sid}: area tissue {areas[-1][0]:+.2f} %, tumour {areas[-1][1]:+.2f} %, stroma {areas[-1][2]:+.2f} %")
        for ph in t["counts"]:
            for reg in ["total", "tumor", "stroma"]:
                if t["counts"][ph][reg] < 30:
                    continue
                area = r["tissue_area_mm2"] if reg == "total" else r[f"{reg}_area_mm2"]
                err = 100 * (r["counts"][ph][reg] / area / t["densities"][ph][reg] - 1)
                rows.append((sim, sid, ph, reg, t["counts"][ph][reg], err))
        truth = list(csv.DictReader(open(os.path.join(sim, "truth", sid + ".cells.csv"))))
        pred = list(csv.DictReader(open(os.path.join(q, "cells", sid + ".csv"))))
        tp = np.array([[float(c["x_um"]), float(c["y_um"])] for c in truth])
        pp = np.array([[float(c["x_um"]), float(c["y_um"])] for c in pred])
        d, idx = cKDTree(tp).query(pp, distance_upper_bound=3.0)
        hit = [(pred[i]["region"], truth[idx[i]]) for i in np.where(np.isfinite(d))[0]]
        agree.append(np.mean([p == t["region"] for p, t in hit]))
        nest = [p == "tumor" for p, t in hit if t["type"] in IMMUNE and t["region"] == "tumor"]
        agree_immune_tumour.append(np.mean(nest) if nest else np.nan)

areas = np.array(areas)
print(f"{len(areas)} slides")
for k, name in enumerate(["tissue", "tumour", "stroma"]):
    print(f"area {name}: {areas[:, k].min():+.2f} … {areas[:, k].max():+.2f} %")
for reg in ["total", "tumor", "stroma"]:
    e = np.array([x[5] for x in rows if x[3] == reg])
    worst = max((x for x in rows if x[3] == reg), key=lambda x: abs(x[5]))
    print(f"densities {reg}: {len(e)} pairs, median |error| {np.median(np.abs(e)):.2f} %, "
          f"worst {worst[5]:+.1f} % ({worst[1]} {worst[2]}, {worst[4]} cells), over 5 %: {int(np.sum(np.abs(e) > 5))}")
for reg in ["tumor", "stroma"]:
    bias = {}
    for x in rows:
        if x[3] == reg:
            bias.setdefault(x[2], []).append(x[5])
    print(f"mean signed error {reg}: " + ", ".join(f"{ph} {np.mean(v):+.1f}" for ph, v in sorted(bias.items())))
print(f"cell region right: {min(agree):.3f} … {max(agree):.3f}; immune cells in nests called tumour: "
      f"{np.nanmin(agree_immune_tumour):.3f} … {np.nanmax(agree_immune_tumour):.3f}")
