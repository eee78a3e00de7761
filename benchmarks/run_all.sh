#!/usr/bin/env bash
# Run every benchmark behind a README table, in order of importance, writing benchmarks/results/*.json.
#
# Usage (from the repository root, with the project's venv active):
#     bash benchmarks/run_all.sh [NAME ...]      # default: all, skipping files that already exist
#
# Each command is resumable: if this script is killed, run it again and every benchmark picks up its
# finished (method, seed) jobs from FILE.partial.jsonl (supernet_memory and fidelity_* are short and simply
# run again). A result file that exists is not re-run; delete it to measure again. Then
# `python benchmarks/render_readme.py` rewrites the README's tables.
set -euo pipefail

TABLE=${INFONAS_NB201_TABLE:-../shared/benchmarks/nb201/nb201_cifar.csv}
OUT=benchmarks/results
WORKERS=${INFONAS_BENCH_WORKERS:-2}
SEARCH=(infonas bench search --table "$TABLE" --objective cifar10_test_200ep)
PARETO=(infonas bench pareto --table "$TABLE" --methods bo-ehvi,bo-mesmo,nsga2,rs --seeds 10 --budget 100
        --workers "$WORKERS")
# The ground-truth table of the embedded mnist1d task (infonas bench table), for the supernet's fidelity.
MNIST1D_TABLE=${INFONAS_MNIST1D_TABLE:-benchmarks/data/nb201_mnist1d.csv}
FIDELITY=(infonas bench fidelity --table "$MNIST1D_TABLE")
SURROGATE=(infonas bench surrogate --table "$TABLE" --objective cifar10_test_200ep --train-sizes 10,25,50,100,200
           --seeds 10)

run() {  # run NAME COMMAND...: the command writes $OUT/NAME.json
  local name=$1
  shift
  if [[ -e "$OUT/$name.json" ]]; then
    echo "== $name: $OUT/$name.json exists, skipped"
    return
  fi
  echo "== $name: $*"
  "$@" --out "$OUT/$name.json"
}

bench() {
  case $1 in
    search_baselines) run "$1" "${SEARCH[@]}" --methods rs,rea,ls --seeds 20 --budget 150 ;;
    search_bayesian) run "$1" "${SEARCH[@]}" --seeds 20 --budget 150 --workers "$WORKERS" \
      --methods 'bo-ei,bo-mes,gp-onehot,gp-onehot[warp=copula],bo-ei[warp=none],bo-ei[acquisition=log-aei],ls,rea,rs' ;;
    search_mf) run "$1" "${SEARCH[@]}" --cheap cifar10_valid_12ep --cheap-cost 0.06 --methods bo-mf,bo-mes \
      --seeds 20 --workers "$WORKERS" ;;
    # Scaled over the whole table, as when these were first measured (before --normalise front).
    pareto_flops) run "$1" "${PARETO[@]}" --normalise table --objectives cifar10_test_200ep:max,flops:min ;;
    pareto_params) run "$1" "${PARETO[@]}" --normalise table --objectives cifar10_test_200ep:max,params:min ;;
    pareto_latency) run "$1" "${PARETO[@]}" --normalise table --objectives cifar10_test_200ep:max,flops:min,latency_ms:min ;;
    # Timing: one worker, so that suggestions do not compete for the cores; run it on an idle machine.
    search_timing) run "$1" "${SEARCH[@]}" --methods bo-ei,bo-mes,gp-onehot --seeds 5 --budget 150 --full-budget \
      --workers 1 ;;
    # bo-mf's seconds per suggestion up to ~600 observations (per-step seconds are in the file).
    search_mf_timing) run "$1" "${SEARCH[@]}" --cheap cifar10_valid_12ep --cheap-cost 0.06 --methods bo-mf --seeds 2 \
      --budget 100 --full-budget --workers 2 ;;
    surrogate) run "$1" "${SURROGATE[@]}" --cheap cifar10_valid_12ep --models onehot-rbf,hamming,wl,wl+hamming ;;
    surrogate_additive) run "$1" "${SURROGATE[@]}" --models wl+hamming+additive ;;
    # Each kind of training runs in a fresh process of its own (its peak RSS is its own); no --workers option.
    supernet_memory) run "$1" infonas bench memory --steps 20 ;;
    # The main job, timed, then killed twice at random moments and resumed (compared trial by trial).
    main_job) run "$1" infonas bench main-job --work-dir "runs/bench-main-job-$(date +%s)" --kills 2 ;;
    # Search on the project's mnist1d table, the supernet column as the cheap fidelity at its measured
    # price, the supernet's 100-epoch training charged up front (both from the table's provenance).
    search_mnist1d) run "$1" infonas bench search --table "$MNIST1D_TABLE" --objective test_acc \
      --cheap supernet_spos_recal $(infonas bench prices --epochs 3 --supernet-epochs 100) --methods bo-mf,bo-mes,ls,rs \
      --seeds 20 --budget 600 --workers "$WORKERS" ;;
    # Seconds on a finished table, so nothing to resume; no --workers option. The mean of the two seeds
    # (test_acc_mean2) has no second measurement to be its ceiling: --ceiling-column '' leaves it out.
    fidelity_mnist1d) run "$1" "${FIDELITY[@]}" --target test_acc --plot "$OUT/fidelity_mnist1d.png" ;;
    fidelity_mnist1d_mean2) run "$1" "${FIDELITY[@]}" --target test_acc_mean2 --ceiling-column test_acc_mean2b ;;
    fidelity_mnist1d_mean4) run "$1" "${FIDELITY[@]}" --target test_acc_mean4 --ceiling-column '' ;;
    # DARTS on the mnist1d table's network, without remedies and with each one, 5 seeds of 30 epochs;
    # derived cells the table lacks are trained as its rows were. Checkpoints in runs/ let a rerun resume.
    collapse_mnist1d) run "$1" infonas bench collapse --table "$MNIST1D_TABLE" --seeds 5 --epochs 30 \
      --workers "$WORKERS" --work-dir runs/bench-collapse-mnist1d --quiet ;;
    # The FLOPs hinge: a budget at the table's 25th FLOPs percentile (150k), alone and with none left out of
    # the discretisation (the hinge alone turns every edge to none); darts-1 alone is shared with
    # collapse_mnist1d through the work directory (its finished searches are read back, not rerun).
    flops_hinge_mnist1d) run "$1" infonas bench collapse --table "$MNIST1D_TABLE" --seeds 5 --epochs 30 \
      --variants 'darts-1,darts-1[flops_budget=150000;flops_weight=5],darts-1[flops_budget=150000;flops_weight=5;exclude_none=true],darts-1[flops_budget=150000;flops_weight=1;exclude_none=true]' \
      --workers "$WORKERS" --work-dir runs/bench-collapse-mnist1d --quiet ;;
    # The FLOPs hinge on the macro space: B at the 25th percentile of 2000 random architectures' FLOPs;
    # each derived network trained as the mnist1d table's rows were.
    flops_hinge_macro_mnist1d) run "$1" infonas bench hinge --space macro --data mnist1d --budget-quantile 0.25 \
      --seeds 5 --epochs 20 --workers "$WORKERS" --work-dir runs/bench-hinge-macro-mnist1d --quiet ;;
    # Bayesian, gradient and one-shot NAS with the same data, seeds and 300 s of search each.
    compare_mnist1d) run "$1" infonas compare --space nb201 --data mnist1d --table "$MNIST1D_TABLE" \
      --methods bo-mf,bo-mes,darts-1,darts-2,gdas,drnas,rsps,rs --seeds 5 --budget-seconds 300 \
      --work-dir runs/bench-compare-mnist1d --quiet ;;
    # The DARTS space on mnist1d: no table, every evaluation trained; bo-mf with the DARTS supernet fidelity
    # (priced by benchmarks/data/darts_mnist1d_prices.json) against three gradient methods, 300 s each, every
    # final genotype retrained twice for 10 epochs. Checkpoints in runs/ let a rerun resume.
    compare_darts_mnist1d) run "$1" infonas compare --space darts --data mnist1d --methods bo-mf,darts-1,gdas,drnas \
      --seeds 3 --budget-seconds 300 --work-dir runs/bench-compare-darts-mnist1d --quiet ;;
    # Seconds per suggestion and RSS as a DARTS-space study grows to 500 observations (a synthetic objective,
    # each job in a fresh process, one at a time); run it on an idle machine.
    search_scaling) run "$1" infonas bench scaling --space darts --methods bo-ei,bo-mf,bo-ehvi --observations 500 \
      --checkpoints 50,100,200,300,400,500 --window 5 --seeds 1 --max-rss-mb 14000 --quiet ;;
    # Acquisition without enumeration: bo-ei's pool of every NB201 class against a sampled pool refined within
    # 2000 scored candidates per suggestion (queries to the optimum, 20 seeds), then its seconds per suggestion.
    search_pool) run "$1" "${SEARCH[@]}" --methods 'bo-ei[pool=enumerate],bo-ei[pool=sampled]' --seeds 20 --budget 150 \
      --workers "$WORKERS" ;;
    search_pool_timing) run "$1" "${SEARCH[@]}" --methods 'bo-ei[pool=enumerate],bo-ei[pool=sampled]' --seeds 3 \
      --budget 150 --full-budget --workers 1 ;;
    # Executors on the same bo-ei search, each evaluation sleeping 1 s then reading the table; run it on an
    # idle machine (the driver's suggestions compete with nothing else for the cores).
    executors) run "$1" infonas bench executors --sleep 1 --trials 40 --workers 4 --executors serial,pool,ray ;;
    # A Ray search of 60 trials on a local cluster (ray start --head); its driver killed with SIGKILL at 10
    # random moments and resumed, a worker running an evaluation killed at 10 others.
    fault_soak) run "$1" infonas bench soak --work-dir "runs/bench-soak-$(date +%s)" --trials 60 --workers 4 \
      --driver-kills 10 --worker-kills 10 ;;
    # Ax as a peer (ax-platform, the version pinned by the ax extra): Ax's default generation strategy, and Ax
    # with the infonas GP as its model, against bo-ei and BoTorch's defaults on one-hot codes (gp-onehot).
    search_ax) run "$1" "${SEARCH[@]}" --methods ax,ax-infonas,bo-ei,gp-onehot --seeds 20 --budget 150 \
      --workers "$WORKERS" ;;
    *) echo "unknown benchmark '$1'; choose from: $ALL" >&2; exit 2 ;;
  esac
}

ALL="search_baselines search_bayesian search_mf pareto_flops pareto_params pareto_latency search_timing surrogate
surrogate_additive supernet_memory fidelity_mnist1d fidelity_mnist1d_mean2 fidelity_mnist1d_mean4 main_job
search_mnist1d search_mf_timing collapse_mnist1d flops_hinge_mnist1d flops_hinge_macro_mnist1d compare_mnist1d
executors fault_soak search_pool search_pool_timing compare_darts_mnist1d search_scaling search_ax"
for name in ${@:-$ALL}; do
  bench "$name"
done
