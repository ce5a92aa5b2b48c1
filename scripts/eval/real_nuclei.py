#!/usr/bin/env python3
"""mifq's nuclei on real, human-annotated fluorescence against a scikit-image baseline, on the left
half of the real-nuclei image (what mifq's nucleus defaults were judged on) and on the held-out right
half (scripts/fixtures/make_real_nuclei_right.py): F1 at IoU 0.5 and mean matched IoU, scored by
../shared/tools/score_nuclei.py. The README's "nuclear segmentation" rows.

The baseline is what ../shared/README.md describes: Otsu on a Gaussian-smoothed image (sigma 2 px),
specks below 20 px removed, distance-transform watershed from peaks at least MIN_DISTANCE px apart.
MIN_DISTANCE 5 is its best on the left half (3, 5, 7, 9 tried: F1 0.54, 0.68, 0.67, 0.66), fixed before
looking at the right half, as mifq's defaults were.

    python3 scripts/eval/real_nuclei.py [MIFQ]      (default .build/release/mifq; numpy, scipy,
                                                     scikit-image, tifffile)
    python3 scripts/eval/real_nuclei.py --sweep     mifq's F1 on both halves with one nucleus
                                                     parameter of the study panel changed at a time
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.measure import label
from skimage.segmentation import watershed

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCORE = os.path.join(ROOT, "..", "shared", "tools", "score_nuclei.py")
MIN_DISTANCE = 5


def baseline(image):
    s = gaussian(image.astype(np.float32), sigma=2, preserve_range=True)
    mask = s > threshold_otsu(s)
    lab = label(mask)
    sizes = np.bincount(lab.ravel())
    mask &= sizes[lab] >= 20
    dist = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(dist, min_distance=MIN_DISTANCE, labels=label(mask), exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=mask).astype(np.uint32)


def score(pred, truth):
    out = subprocess.run([sys.executable, SCORE, pred, truth], check=True, capture_output=True, text=True).stdout
    fields = dict(kv.split("=") for kv in out.split())
    return f"F1 {float(fields['f1']):.3f}, mean IoU {float(fields['mean_matched_iou']):.3f} " \
           f"({fields['tp']} of {fields['truth']} nuclei found, {fields['fp']} false)"


SWEEP = {"otsuFactor": [0.4, 0.5, 0.8], "seedSigmaMicrons": [1.5, 2.5, 3], "seedMinDistanceMicrons": [1.5, 3.5],
         "distanceWeight": [0.5, 1.0, 1.5], "localWindowMicrons": [0, 20], "sigmaMicrons": [0.3, 0.8]}


def f1(pred, truth):
    out = subprocess.run([sys.executable, SCORE, pred, truth], check=True, capture_output=True, text=True).stdout
    return float(dict(kv.split("=") for kv in out.split())["f1"])


def sweep(mifq):
    """One parameter of the study panel's nucleus settings changed at a time, F1 on each half."""
    panel = json.load(open(os.path.join(ROOT, "panels", "escc-opal7.json")))
    base = panel["nucleus"]["parameters"]
    with tempfile.TemporaryDirectory() as tmp:
        def run(params):
            panel["nucleus"]["parameters"] = params
            path = os.path.join(tmp, "panel.json")
            json.dump(panel, open(path, "w"))
            scores = []
            for half in ("left", "right"):
                pred = os.path.join(tmp, half + ".tif")
                subprocess.run([mifq, "segment", os.path.join(ROOT, "testdata", "real-nuclei", f"dsb2018_{half}_image.tif"),
                                "--out", pred, "--pixel-size", "0.35", "--panel", path, "--quiet"], check=True, capture_output=True)
                scores.append(f1(pred, os.path.join(ROOT, "testdata", "real-nuclei", f"dsb2018_{half}_labels.tif")))
            return "left %.3f, right %.3f" % tuple(scores)
        print("study panel as it is:", run(dict(base)))
        for key, values in SWEEP.items():
            for v in values:
                print(f"{key} {base[key]} -> {v}:", run(dict(base, **{key: v})))


def main():
    if "--sweep" in sys.argv:
        sweep(os.path.join(ROOT, ".build", "release", "mifq"))
        return
    mifq = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "release", "mifq")
    with tempfile.TemporaryDirectory() as tmp:
        for half in ("left", "right"):
            image = os.path.join(ROOT, "testdata", "real-nuclei", f"dsb2018_{half}_image.tif")
            truth = os.path.join(ROOT, "testdata", "real-nuclei", f"dsb2018_{half}_labels.tif")
            pred = os.path.join(tmp, f"{half}_mifq.tif")
            subprocess.run([mifq, "segment", image, "--out", pred, "--pixel-size", "0.35", "--quiet"],
                           check=True, capture_output=True)
            base = os.path.join(tmp, f"{half}_baseline.tif")
            tifffile.imwrite(base, baseline(tifffile.imread(image)))
            tag = "held out" if half == "right" else "defaults judged here"
            print(f"{half} half ({tag}): mifq {score(pred, truth)}; baseline {score(base, truth)}")


if __name__ == "__main__":
    main()
