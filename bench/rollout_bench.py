#!/usr/bin/env python3
"""Generated tokens/s: rleif's rollout engine (bench/rollout_generate) vs transformers' model.generate,
on the same weights, threads, batch, prompt and new-token lengths, greedy and sampled, measured in this
one run, with the ratios printed. The two sides alternate round by round (fixed workloads), and the ratio
is the median of the per-round ratios, so a slow spell of a shared machine does not land on one side. Also:
  - a mixed-length workload (new-token counts drawn from [8, N]) where transformers batches statically
    (each batch runs to its longest request) and rleif runs continuous vs fixed (static) batching;
  - the decode rate as a share of the sgemm roofline: peak fp32 GEMM FLOP/s (measured here at the
    same threads) / (2 x parameters) tokens/s.

  .venv/bin/python bench/rollout_bench.py --bin build/bench/rollout_generate [--threads 1] [--batch 16]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

CONFIGS = {
    # the demo policy's shape (configs/models/math_tiny.json, what scripts/demo trains): 1.9M parameters
    "demo": dict(vocab_size=1024, hidden_size=128, intermediate_size=352, num_hidden_layers=8, num_attention_heads=4,
                 num_key_value_heads=4),
    "25M": dict(vocab_size=8000, hidden_size=512, intermediate_size=1408, num_hidden_layers=6, num_attention_heads=8,
                num_key_value_heads=8),
}


def hf_generate(model, prompts, new_tokens, batch, mode):
    """Static batches of `batch` prompts in order; each batch generates its longest request's count."""
    kw = dict(do_sample=False) if mode == "greedy" else dict(do_sample=True, temperature=0.7, top_p=0.95, top_k=0)
    useful = 0
    with torch.inference_mode():
        for i in range(0, len(prompts), batch):
            ids = torch.tensor(prompts[i:i + batch])
            n = max(new_tokens[i:i + batch])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                                 pad_token_id=0, **kw)
            assert out.shape[1] == ids.shape[1] + n
            useful += sum(new_tokens[i:i + batch])
    return useful


def time_hf(model, w, batch, mode, repeats):
    hf_generate(model, w["prompts"][:batch], [4] * min(batch, len(w["prompts"])), batch, mode)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        useful = hf_generate(model, w["prompts"], w["new_tokens"], batch, mode)
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return {"seconds": sec, "tokens": useful, "tokens_per_s": useful / sec}


def run_rleif(a, model_dir, wfile, mode, schedule="continuous", repeats=None):
    cmd = [a.bin, "--model", model_dir, "--workload", wfile, "--threads", str(a.threads), "--batch", str(a.batch),
           "--mode", mode, "--schedule", schedule, "--repeats", str(repeats or a.repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def paired(a, model, model_dir, wfile, w, mode):
    """rleif and transformers timed in alternation, one repeat each per round, so a slow spell of the
    shared machine lands on both: medians of each side's rates and of the per-round ratios."""
    hf_generate(model, w["prompts"][:a.batch], [4] * a.batch, a.batch, mode)  # warm-up
    rl, hf, ratio = [], [], []
    for _ in range(a.repeats):
        rl.append(run_rleif(a, model_dir, wfile, mode, repeats=1)["tokens_per_s"])
        hf.append(time_hf_once(model, w, a.batch, mode))
        ratio.append(rl[-1] / hf[-1])
    return statistics.median(rl), statistics.median(hf), statistics.median(ratio)


def time_hf_once(model, w, batch, mode):
    t0 = time.perf_counter()
    useful = hf_generate(model, w["prompts"], w["new_tokens"], batch, mode)
    return useful / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/bench/rollout_generate")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5, help="alternating rleif/transformers rounds (fixed workloads); "
                   "timed repeats (mixed workload)")
    p.add_argument("--configs", default="demo,25M")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    peak = json.loads(subprocess.run([a.bin, "--sgemm", "--threads", str(a.threads)], check=True, capture_output=True,
                                     text=True).stdout.strip())["sgemm_gflops"]
    print(f"threads {a.threads}, batch {a.batch}, prompt {a.prompt_len} tokens, {a.new_tokens} new tokens; "
          f"sgemm peak {peak:.1f} GFLOP/s (LibTorch, 1024^3)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.configs.split(","):
            cfg = LlamaConfig(**CONFIGS[name], max_position_embeddings=1024, rms_norm_eps=1e-5, tie_word_embeddings=False)
            torch.manual_seed(0)
            model = LlamaForCausalLM(cfg).eval()
            params = sum(t.numel() for t in model.parameters())
            d = os.path.join(tmp, name)
            model.save_pretrained(d, safe_serialization=True)
            rnd = random.Random(1)
            prompts = [[rnd.randrange(cfg.vocab_size) for _ in range(a.prompt_len)] for _ in range(a.batch)]
            fixed = {"prompts": prompts, "new_tokens": [a.new_tokens] * a.batch}
            mixed_prompts = [[rnd.randrange(cfg.vocab_size) for _ in range(a.prompt_len)] for _ in range(4 * a.batch)]
            mixed = {"prompts": mixed_prompts, "new_tokens": [rnd.randint(8, a.new_tokens) for _ in mixed_prompts]}
            files = {}
            for k, w in (("fixed", fixed), ("mixed", mixed)):
                files[k] = os.path.join(tmp, f"{name}_{k}.json")
                json.dump(w, open(files[k], "w"))
            roofline = peak * 1e9 / (2 * params)
            for mode in ("greedy", "sampled"):
                rl, hf, ratio = paired(a, model, d, files["fixed"], fixed, mode)
                rows.append((name, params, f"fixed {mode}", rl, hf, rl / roofline))
                print(f"{name:5s} ({params / 1e6:.1f}M) fixed  {mode:7s}: rleif {rl:9.0f} tok/s  "
                      f"transformers {hf:8.0f} tok/s  ratio {ratio:5.2f}x (median of {a.repeats} alternating rounds)  "
                      f"roofline share {100 * rl / roofline:5.1f}% (roofline {roofline:.0f} tok/s)", flush=True)
            rc = run_rleif(a, d, files["mixed"], "greedy", "continuous")
            rf = run_rleif(a, d, files["mixed"], "greedy", "fixed")
            h = time_hf(model, mixed, a.batch, "greedy", a.repeats)
            print(f"{name:5s} mixed lengths 8..{a.new_tokens}, {len(mixed_prompts)} requests, greedy: "
                  f"continuous {rc['tokens_per_s']:.0f} tok/s (occupancy {100 * rc['occupancy']:.0f}%), "
                  f"fixed {rf['tokens_per_s']:.0f} tok/s (occupancy {100 * rf['occupancy']:.0f}%), "
                  f"transformers {h['tokens_per_s']:.0f} tok/s; continuous/fixed {rc['tokens_per_s'] / rf['tokens_per_s']:.2f}x, "
                  f"continuous/transformers {rc['tokens_per_s'] / h['tokens_per_s']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
