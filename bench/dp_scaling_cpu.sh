#!/bin/bash
# Data-parallel SFT throughput on the CPU (docs/SCALING.md): 1 process x 1 thread, torchrun with
# 2 processes x 1 thread, and 1 process x 2 threads, on configs/sft_math.yaml's 1.6M-parameter model,
# two rounds alternating. Env: BIN (rleif binary), STEPS (default 60), OUT (work directory).
set -e
cd "$(dirname "$0")/.."  # the repository root
BIN=${BIN:-build/cli/rleif}
D=${OUT:-/tmp/rleif_dp_scaling}
[ -f $D/data/train.jsonl ] || $BIN data synth --out $D/data --n 4000 --seed 1 --held-out 10 >/dev/null 2>&1
common="--config configs/sft_math.yaml model.tokenizer=$D/data/tokenizer.json data.train=$D/data/train.jsonl data.eval= eval.samples=0 train.max_steps=${STEPS:-60} train.grad_accum=2 train.save_every=0 train.deterministic=true"
rate() { python3 -c "import json;L=[json.loads(l) for l in open('$1/metrics.jsonl') if '\"loss\"' in l];a=L[9];b=L[-1];print('%.0f tok/s over steps 11-%d (%.1f s)'%((b['tokens']-a['tokens'])/(b['elapsed_s']-a['elapsed_s']),len(L),b['elapsed_s']-a['elapsed_s']))"; }
for round in 1 2; do
  rm -rf $D/one $D/two $D/one2t
  OMP_WAIT_POLICY=passive $BIN sft $common train.threads=1 train.output_dir=$D/one >/dev/null 2>&1
  echo "round $round, 1 process x 1 thread:   $(rate $D/one)"
  OMP_WAIT_POLICY=passive .venv/bin/torchrun --nproc-per-node 2 --master-port 29731 --no-python $BIN sft $common train.threads=1 train.output_dir=$D/two >/dev/null 2>&1
  echo "round $round, 2 processes x 1 thread: $(rate $D/two)"
  OMP_WAIT_POLICY=passive $BIN sft $common train.threads=2 train.output_dir=$D/one2t >/dev/null 2>&1
  echo "round $round, 1 process x 2 threads:  $(rate $D/one2t)"
done
