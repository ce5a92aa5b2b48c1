#!/usr/bin/env bash
# Runs the Snakemake workflow locally on a tiny simulated cohort and checks that its merged
# tables equal a single-machine `mifq quantify` of the same slides.  Uses snakemake from PATH, or
# installs it from PyPI into .build/snakemake-venv.  `make test` runs it with OPTIONAL=1: where
# snakemake can be neither found nor installed (no network), the check says so and is skipped.
#   bash workflow/check.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
# The default folder has a space in its name: the rules quote every path.
W=${1:-/tmp/mifq workflow-check}
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
# A damaged slide among the good ones: its job records the failure and the others go on.
head -c 4096 "$W/cohort/slides/P006_S1.ome.tif" > "$W/P006_S1.part" && mv "$W/P006_S1.part" "$W/cohort/slides/P006_S1.ome.tif"
# Patients from a map (P001_S1 and P002_S1 are one patient's two slides), in both runs.
printf 'slide_id,patient_id\nP001_S1,P001\nP002_S1,P001\n' > "$W/patients.csv"
# One slide's CD8 threshold set by hand, in both runs.
printf 'slide_id,marker,threshold\nP002_S1,CD8,30\n' > "$W/gates.csv"
# One slide's top-left quarter left out, as a pathologist's "Ignore*" region drawn in QuPath; on
# another, a negative region drawn in HALO, its file named after the image.
mkdir -p "$W/annotations"
printf '{"type": "Feature", "properties": {"classification": {"name": "Ignore*"}}, "geometry": {"type": "Polygon", "coordinates": [[[0,0],[256,0],[256,256],[0,256],[0,0]]]}}\n' \
  > "$W/annotations/P003_S1.geojson"
printf '<Annotations><Annotation Name="Layer 1"><Regions><Region Type="Rectangle" NegativeROA="1"><Vertices><V X="300" Y="300"/><V X="512" Y="512"/></Vertices></Region></Regions></Annotation></Annotations>\n' \
  > "$W/annotations/P004_S1.ome.tif.annotations"
run_workflow() {
  "$SNAKEMAKE" -s workflow/Snakefile --cores 2 "$@" all \
    --config slides="$W/cohort/slides" clinical="$W/cohort/clinical.csv" panel=panels/escc-opal7.json out="$W/cluster" mifq="$MIFQ" \
    gates="$W/gates.csv" annotations="$W/annotations" patients="$W/patients.csv" cells_geojson=1 adjust=bh percentile=40
}
run_workflow --quiet 2> "$W/workflow.log" || { cat "$W/workflow.log"; exit 1; }
grep -q "mifq: slide not in the tables, its quantify job failed: $W/cohort/slides/P006_S1.ome.tif: " "$W/workflow.log" \
  || { cat "$W/workflow.log"; echo "the workflow's log does not name the damaged slide"; exit 1; }
echo "the damaged slide's job recorded its failure, the others went on, and the log names it"
status=0
"$MIFQ" quantify "$W/cohort/slides" --panel panels/escc-opal7.json --out "$W/single" --gates "$W/gates.csv" \
  --annotations "$W/annotations" --patients "$W/patients.csv" --cells-geojson --quiet >/dev/null 2>&1 || status=$?
test $status = 1 || { echo "a single run with the damaged slide exited $status, not 1"; exit 1; }
for f in slides.csv densities.csv thresholds.csv; do
  cmp "$W/cluster/$f" "$W/single/$f" || exit 1
  echo "same $f"
done
test "$(grep -c '^P001,' "$W/cluster/densities.csv")" = 1 && ! grep -q '^P002,' "$W/cluster/densities.csv" \
  || { echo "the patient map was not applied"; exit 1; }
echo "the patient map joined P001_S1 and P002_S1"
"$MIFQ" compare "$W/single/densities.csv" --clinical "$W/cohort/clinical.csv" --out "$W/single" --adjust bh >/dev/null 2>&1
"$MIFQ" survival "$W/single/densities.csv" --clinical "$W/cohort/clinical.csv" --out "$W/single" --percentile 40 --adjust bh >/dev/null 2>&1
for f in mann_whitney.csv logrank.csv hazard_ratios.csv km_summary.csv; do
  cmp "$W/cluster/$f" "$W/single/$f" || exit 1
done
grep -q "p_adjusted" "$W/cluster/logrank.csv" || { echo "the workflow's survival options were not applied"; exit 1; }
echo "same statistics with the workflow's options (--adjust bh, --percentile 40)"
cmp "$W/cluster/cells/P003_S1.geojson" "$W/single/cells/P003_S1.geojson" || exit 1
echo "same cells as QuPath detections"
test -s "$W/cluster/report.html" || { echo "no report"; exit 1; }
echo "report written"
# The merged folder's report shows every good slide's QC picture, with the threshold set by
# hand, the regions left out and the damaged slide.
test "$(ls "$W/cluster/qc" | grep -c '\.png$')" = 5 || { echo "QC pictures missing from the merged folder"; exit 1; }
cmp "$W/cluster/qc/key.svg" "$W/single/qc/key.svg" || { echo "the merged folder's colour key differs from a single run's"; exit 1; }
grep -q "gates set by hand: CD8 30" "$W/cluster/report.html" || { echo "the report does not show the hand-set gate"; exit 1; }
grep -q "1 drawn region(s) left out" "$W/cluster/report.html" || { echo "the report does not show the annotation"; exit 1; }
grep -q "annotations on 2 slide(s): P003_S1, P004_S1" "$W/cluster/report.html" || { echo "the report does not list the annotated slides"; exit 1; }
grep -q "<b>1 slide(s) failed</b>: $W/cohort/slides/P006_S1.ome.tif: " "$W/cluster/report.html" || { echo "the report does not name the damaged slide"; exit 1; }
echo "report shows the QC pictures, the hand-set gate, the annotations and the damaged slide"
# Editing the HALO file re-runs that slide's job alone (and what follows from it). (Snakemake
# compares a small input's content, not only its time: touching it is not an edit.)
sed -i 's/X="300" Y="300"/X="320" Y="300"/' "$W/annotations/P004_S1.ome.tif.annotations"
run_workflow --dry-run > "$W/dryrun.log" 2>&1 || { cat "$W/dryrun.log"; exit 1; }
grep -Eq "^quantify_slide +1$" "$W/dryrun.log" && grep -q "slide=P004_S1" "$W/dryrun.log" \
  || { cat "$W/dryrun.log"; echo "editing a HALO annotation file does not re-run its slide alone"; exit 1; }
# Its memory and time: 512 + 128 × 1 thread + ⌈0.26 Mpx⌉ = 641 MB, 10 + ⌈0.26 / 3 / 60⌉ = 11 minutes.
grep -q "mem_mb=641" "$W/dryrun.log" && grep -q "runtime=11" "$W/dryrun.log" \
  || { cat "$W/dryrun.log"; echo "the slide job's resources are not 641 MB and 11 minutes"; exit 1; }
echo "editing a HALO annotation file re-runs its slide alone, asking 641 MB and 11 minutes"
