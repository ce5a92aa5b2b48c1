#!/usr/bin/env bash
# Runs the Snakemake workflow locally on a tiny simulated cohort and checks that its merged
# tables equal a single-machine `mifq quantify` of the same slides.  Uses snakemake from PATH, or
# installs it from PyPI into .build/snakemake-venv.  `make test` runs it with OPTIONAL=1: where
# snakemake can be neither found nor installed (no network), the check says so and is skipped.
#   bash workflow/check.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/mifq-workflow-check}
SNAKEMAKE_VERSION=9.27.1
SNAKEMAKE=$(command -v snakemake || true)
if [ -z "$SNAKEMAKE" ]; then
  VENV=.build/snakemake-venv
  if [ ! -x "$VENV/bin/snakemake" ]; then
    echo "installing snakemake $SNAKEMAKE_VERSION into $VENV" >&2
    # Installed means it also runs (a broken dependency release shows here, not as a failed check).
    if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --timeout 30 "snakemake==$SNAKEMAKE_VERSION" \
           && "$VENV/bin/snakemake" --version; } >"$W.install.log" 2>&1; then
      rm -rf "$VENV"
      if [ "${OPTIONAL:-0}" = 1 ]; then
        echo "workflow check skipped: snakemake could not be installed (see $W.install.log)" >&2
        exit 0
      fi
      echo "workflow/check.sh: snakemake could not be installed (see $W.install.log)" >&2
      exit 1
    fi
  fi
  SNAKEMAKE=$VENV/bin/snakemake
fi
MIFQ=.build/release/mifq
swift build -c release >/dev/null
rm -rf "$W"
"$MIFQ" simulate --out "$W/cohort" --patients 6 --size 512x512 --seed 5 --quiet >/dev/null
# One slide's CD8 threshold set by hand, in both runs.
printf 'slide_id,marker,threshold\nP002_S1,CD8,30\n' > "$W/gates.csv"
# One slide's top-left quarter left out, as a pathologist's "Ignore*" region drawn in QuPath.
mkdir -p "$W/annotations"
printf '{"type": "Feature", "properties": {"classification": {"name": "Ignore*"}}, "geometry": {"type": "Polygon", "coordinates": [[[0,0],[256,0],[256,256],[0,256],[0,0]]]}}\n' \
  > "$W/annotations/P003_S1.geojson"
"$SNAKEMAKE" -s workflow/Snakefile --cores 2 --quiet all \
  --config slides="$W/cohort/slides" clinical="$W/cohort/clinical.csv" panel=panels/escc-opal7.json out="$W/cluster" mifq="$MIFQ" \
  gates="$W/gates.csv" annotations="$W/annotations" cells_geojson=1
"$MIFQ" quantify "$W/cohort/slides" --panel panels/escc-opal7.json --out "$W/single" --gates "$W/gates.csv" \
  --annotations "$W/annotations" --cells-geojson --quiet >/dev/null
for f in slides.csv densities.csv thresholds.csv; do
  cmp "$W/cluster/$f" "$W/single/$f" || exit 1
  echo "same $f"
done
cmp "$W/cluster/cells/P003_S1.geojson" "$W/single/cells/P003_S1.geojson" || exit 1
echo "same cells as QuPath detections"
test -s "$W/cluster/report.html" || { echo "no report"; exit 1; }
echo "report written"
# The merged folder's report shows every slide's QC picture, with the threshold set by hand and
# the region left out.
test "$(ls "$W/cluster/qc" | wc -l)" = 6 || { echo "QC pictures missing from the merged folder"; exit 1; }
grep -q "gates set by hand: CD8 30" "$W/cluster/report.html" || { echo "the report does not show the hand-set gate"; exit 1; }
grep -q "1 drawn region(s) left out" "$W/cluster/report.html" || { echo "the report does not show the annotation"; exit 1; }
echo "report shows the QC pictures, the hand-set gate and the annotation"
