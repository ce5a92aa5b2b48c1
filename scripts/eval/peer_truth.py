#!/usr/bin/env python3
"""Scores a mifq cell table against the truth that ../shared/peer/make_slide.py writes, with the
peer's own rule (one-to-one greedy matching of centroids within 4 px), so both tools' F1 compare.

    python3 scripts/eval/peer_truth.py SLIDE.ome.tif.truth.csv QUANT/cells/SLIDE.csv [PIXEL_UM]
Prints detection recall/precision/F1 and, on matched cells, per-marker F1. When QUANT/slides.csv
and SLIDE.ome.tif.meta.json are there, also the tumour and stroma areas against the meta's, and
every phenotype's density (total, tumour, stroma) against the truth's counts over the true areas,
for the phenotype x region pairs with at least 30 true cells."""
import csv, json, os, sys
import numpy as np
from scipy.spatial import cKDTree

truth_path, cells_path = sys.argv[1], sys.argv[2]
px = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
radius = 4.0
truth = list(csv.DictReader(open(truth_path)))
cells = list(csv.DictReader(open(cells_path)))
txy = np.array([[float(r["x"]), float(r["y"])] for r in truth])
dxy = np.array([[float(r["x_um"]) / px, float(r["y_um"]) / px] for r in cells])
d, j = cKDTree(txy).query(dxy, k=3, distance_upper_bound=radius)
cand = sorted((d[i, k], i, j[i, k]) for i in range(len(dxy)) for k in range(3) if np.isfinite(d[i, k]))
used_d, used_t, pairs = set(), set(), []
for dist, i, t in cand:
    if i in used_d or t in used_t:
        continue
    used_d.add(i); used_t.add(t); pairs.append((i, t))
recall, precision = len(pairs) / len(txy), len(pairs) / len(dxy)
print(f"detection vs truth ({len(txy)} cells, match <= {radius:g} px): recall {recall:.4f}, precision {precision:.4f}, "
      f"F1 {2 * recall * precision / (recall + precision):.4f}")
out = []
for m in ["CD8", "CD68", "CD11c", "CD4", "PDL1", "panCK"]:
    tp = sum(1 for i, t in pairs if truth[t][m] == "1" and cells[i][f"{m}_positive"] == "1")
    tpos = sum(1 for r in truth if r[m] == "1")
    dpos = sum(1 for r in cells if r[f"{m}_positive"] == "1")
    out.append(f"{m} {2 * tp / max(1, tpos + dpos):.3f}")
print("marker F1 (all truth and all detected positives): " + ", ".join(out))

quant = os.path.dirname(os.path.dirname(os.path.abspath(cells_path)))
meta_path = truth_path[:-len(".truth.csv")] + ".meta.json" if truth_path.endswith(".truth.csv") else ""
slides_path = os.path.join(quant, "slides.csv")
if os.path.exists(meta_path) and os.path.exists(slides_path):
    meta = json.load(open(meta_path))
    sid = os.path.basename(cells_path)[:-4]
    row = next(r for r in csv.DictReader(open(slides_path)) if r["slide_id"] == sid)
    true_area = {"tumor": meta["tumour_area_mm2"], "stroma": meta["stroma_area_mm2"]}
    true_area["total"] = true_area["tumor"] + true_area["stroma"]
    print(f"areas: tumour {100 * (float(row['tumor_area_mm2']) / true_area['tumor'] - 1):+.2f}%, "
          f"stroma {100 * (float(row['stroma_area_mm2']) / true_area['stroma'] - 1):+.2f}%")
    phenotypes = {"CD8": ["CD8"], "CD4": ["CD4"], "CD68": ["CD68"], "CD11c": ["CD11c"], "panCK": ["panCK"],
                  "PDL1": ["PDL1"], "PDL1_tumor": ["PDL1", "panCK"], "PDL1_DC": ["PDL1", "CD11c"],
                  "PDL1_macrophage": ["PDL1", "CD68"]}
    worst = {}
    for ph, markers in phenotypes.items():
        n = {"tumor": 0, "stroma": 0}
        for r in truth:
            if all(r[m] == "1" for m in markers):
                n["tumor" if r["region"] == "tumour" else "stroma"] += 1
        n["total"] = n["tumor"] + n["stroma"]
        parts = []
        for reg in ["total", "tumor", "stroma"]:
            if n[reg] < 30:
                continue
            err = 100 * (float(row[f"{ph}_density_{reg}"]) / (n[reg] / true_area[reg]) - 1)
            worst[reg] = max(worst.get(reg, 0), abs(err))
            parts.append(f"{reg} {err:+.1f}% ({n[reg]})")
        if parts:
            print(f"density {ph}: " + ", ".join(parts))
    print("worst |density error|: " + ", ".join(f"{reg} {v:.1f}%" for reg, v in worst.items()))
