#!/usr/bin/env python3
"""Random survival data through `mifq survival` and R's coxph (survival package, Efron ties):
hazard ratio, its 95% CI and the Wald p of high (> 30th percentile) against low must agree to
1e-6 relative, and R's "coefficient may be infinite" cases must be the ones mifq calls not
estimable (NA).  Needs R with the survival package (apt-get install r-base-core r-cran-survival).

    python3 scripts/eval/cox_against_r.py [CASES] [SEED]     (default 300 cases, seed 7)"""
import csv, os, random, subprocess, sys, tempfile

R = r'''
suppressPackageStartupMessages(library(survival))
for (d in commandArgs(TRUE)) {
  m <- merge(read.csv(file.path(d, "dens.csv")), read.csv(file.path(d, "clin.csv")), by = "patient_id")
  m$g <- as.integer(m$V > quantile(m$V, 0.3, type = 7, names = FALSE))
  res <- "NA,NA,NA,NA"
  if (length(unique(m$g)) == 2) {
    inf <- FALSE
    fit <- withCallingHandlers(coxph(Surv(pfs_months, pfs_event) ~ g, data = m),
                               warning = function(w) { inf <<- TRUE; invokeRestart("muffleWarning") })
    s <- summary(fit)
    if (!inf) res <- paste(formatC(c(s$conf.int[1, c(1, 3, 4)], s$coefficients[1, 5]), digits = 15, format = "g"), collapse = ",")
  }
  cat(d, ",", res, "\n", sep = "")
}
'''
mifq = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "release", "mifq")
n_cases = int(sys.argv[1]) if len(sys.argv) > 1 else 300
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
work = tempfile.mkdtemp(prefix="mifq-cox-")
dirs = []
for c in range(n_cases):
    # 4–60 patients; times on grids from 1 to 0.01 months (ties); 10–100% events.
    n, grid, pe = rng.randint(4, 60), rng.choice([1, 0.5, 0.1, 0.01]), rng.choice([0.1, 0.5, 0.9, 1.0])
    d = os.path.join(work, f"case{c}"); os.makedirs(d); dirs.append(d)
    with open(os.path.join(d, "dens.csv"), "w") as f:
        f.write("patient_id,V\n" + "".join(f"P{i},{round(rng.uniform(0, 100), rng.choice([0, 2]))}\n" for i in range(n)))
    with open(os.path.join(d, "clin.csv"), "w") as f:
        f.write("patient_id,response,pfs_months,pfs_event,os_months,os_event\n")
        for i in range(n):
            t = max(grid, round(rng.expovariate(1 / 12) / grid) * grid)
            f.write(f"P{i},PR,{t:g},{int(rng.random() < pe)},{t:g},1\n")
with open(os.path.join(work, "ref.R"), "w") as f:
    f.write(R)
ref = subprocess.run(["Rscript", os.path.join(work, "ref.R")] + dirs, capture_output=True, text=True, check=True).stdout.split("\n")
bad, both_na = 0, 0
for line in filter(None, ref):
    d, *want = [s.strip() for s in line.split(",")]
    subprocess.run([mifq, "survival", f"{d}/dens.csv", "--clinical", f"{d}/clin.csv", "--out", f"{d}/o", "--endpoints", "pfs"],
                   capture_output=True, check=True)
    row = next(csv.DictReader(open(f"{d}/o/hazard_ratios.csv")))
    got = [row[k] for k in ["hr", "hr_lcl", "hr_ucl", "p_value"]]
    if "NA" in (want[0], got[0]):
        both_na += want[0] == got[0]
        if want[0] != got[0]:
            bad += 1; print("not estimable in one only:", d, "R", want, "mifq", got)
        continue
    if any(abs(float(a) - float(b)) > 1e-6 * abs(float(b)) for a, b in zip(got, want)):
        bad += 1; print("differs:", d, "R", want, "mifq", got)
print(f"{n_cases} cases: {n_cases - bad} agree with R ({both_na} not estimable in both), {bad} differ")
sys.exit(1 if bad else 0)
