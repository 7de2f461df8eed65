#!/usr/bin/env python3
"""Forward tokens/s: rleif (bench/model_forward) vs transformers (PyTorch eager), same weights,
inputs, threads. Builds two random Llama configs (the demo-size policy and a ~25M-parameter one),
saves them with transformers, times both implementations in this one run and prints the ratios.

  .venv/bin/python bench/run_model_forward.py --bin build/bench/model_forward [--threads 2]
"""
import argparse
import json
import statistics
import subprocess
import tempfile
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

CONFIGS = {
    # ~1.6M parameters: the size of the built-in math domain's demo policy.
    "demo": dict(vocab_size=512, hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=6,
                 num_key_value_heads=6),
    # ~25M parameters.
    "25M": dict(vocab_size=8000, hidden_size=512, intermediate_size=1408, num_hidden_layers=6, num_attention_heads=8,
                num_key_value_heads=8),
}


def time_reference(model, batch, seq, iters, warmup):
    torch.manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (batch, seq))
    times = []
    with torch.inference_mode():
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            model(input_ids=ids).logits.sum().item()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"impl": "transformers", "median_s": med, "tokens_per_s": batch * seq / med}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/bench/model_forward")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"forward, batch {a.batch} x seq {a.seq}, {a.threads} threads, fp32, median of {a.iters}")
    print(f"{'config':8} {'params':>8} {'rleif tok/s':>12} {'transformers tok/s':>19} {'ratio':>6}")
    for name, kw in CONFIGS.items():
        cfg = LlamaConfig(**kw, max_position_embeddings=1024)
        torch.manual_seed(0)
        model = LlamaForCausalLM(cfg).eval()
        n_params = sum(x.numel() for x in model.parameters())
        with tempfile.TemporaryDirectory() as d:
            model.save_pretrained(d)
            out = subprocess.run([a.bin, "--model", d, "--batch", str(a.batch), "--seq", str(a.seq), "--threads",
                                  str(a.threads), "--iters", str(a.iters), "--warmup", str(a.warmup)],
                                 check=True, capture_output=True, text=True).stdout
            ours = json.loads(out.strip().splitlines()[-1])
        model.config._attn_implementation = "sdpa"
        ref = time_reference(model, a.batch, a.seq, a.iters, a.warmup)
        ratio = ours["tokens_per_s"] / ref["tokens_per_s"]
        print(f"{name:8} {n_params/1e6:7.1f}M {ours['tokens_per_s']:12.0f} {ref['tokens_per_s']:19.0f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
