#!/usr/bin/env python3
"""Scores a mifq cell table against the truth that ../shared/peer/make_slide.py writes, with the
peer's own rule (one-to-one greedy matching of centroids within 4 px), so both tools' F1 compare.

    python3 scripts/eval/peer_truth.py SLIDE.ome.tif.truth.csv QUANT/cells/SLIDE.csv [PIXEL_UM]
Prints detection recall/precision/F1 and, on matched cells, per-marker F1."""
import csv, sys
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
