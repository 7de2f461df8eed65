#!/usr/bin/env python3
"""Generated tokens/s on a CUDA GPU: rleif's rollout engine (bench/rollout_generate --device cuda) vs
transformers' model.generate on the same GPU, same weights (random Llama, saved once), dtype, batch,
prompt and new-token lengths, measured in this one run, with the ratio printed. Driven by
scripts/device_check (docs/perf/gpu.md); the CPU comparison is bench/rollout_bench.py.

Each side: one warm-up, then the median of --repeats timed runs (rollout_generate warms up and repeats
inside one process; transformers in this process). Greedy and sampled (temperature 0.7, top-p 0.95),
ignore EOS, so both sides generate exactly batch x new-tokens tokens.

  python3 bench/rollout_gpu_bench.py --bin build/bench/rollout_generate --out results.jsonl
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
    # bench/rollout_bench.py's 25M shape (launch-bound on a GPU)
    "25M": dict(vocab_size=8000, hidden_size=512, intermediate_size=1408, num_hidden_layers=6, num_attention_heads=8,
                num_key_value_heads=8),
    # a TinyLlama-like 1.1B shape (grouped-query attention, 32k vocabulary)
    "1.1B": dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                 num_attention_heads=32, num_key_value_heads=4),
}
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def hf_generate(model, prompts, new_tokens, mode):
    kw = dict(do_sample=False) if mode == "greedy" else dict(do_sample=True, temperature=0.7, top_p=0.95, top_k=0)
    ids = torch.tensor(prompts, device="cuda")  # [B,P]
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, pad_token_id=0, **kw)
    torch.cuda.synchronize()
    assert out.shape == (ids.shape[0], ids.shape[1] + new_tokens), out.shape
    return ids.shape[0] * new_tokens


def time_hf(model, prompts, new_tokens, mode, repeats):
    hf_generate(model, prompts, 4, mode)  # warm-up
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = hf_generate(model, prompts, new_tokens, mode)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def run_rleif(a, model_dir, wfile, mode, dtype, graphs=True):
    cmd = [a.bin, "--model", model_dir, "--workload", wfile, "--device", "cuda", "--dtype", dtype, "--batch",
           str(a.batch), "--mode", mode, "--repeats", str(a.repeats)]
    if not graphs:
        cmd.append("--no-cuda-graphs")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/bench/rollout_generate")
    p.add_argument("--out", default="", help="append one JSON line per measurement here")
    p.add_argument("--configs", default="25M,1.1B")
    p.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    p.add_argument("--modes", default="greedy,sampled")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    gpu = torch.cuda.get_device_name(0)
    print(f"{gpu}; {a.dtype}, batch {a.batch}, prompt {a.prompt_len} tokens, {a.new_tokens} new tokens, "
          f"median of {a.repeats}; torch {torch.__version__}", flush=True)
    out = open(a.out, "a") if a.out else None
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.configs.split(","):
            cfg = LlamaConfig(**CONFIGS[name], max_position_embeddings=2048, rms_norm_eps=1e-5,
                              tie_word_embeddings=False)
            torch.manual_seed(0)
            with torch.device("cuda"):
                model = LlamaForCausalLM(cfg).to(DTYPES[a.dtype]).eval()
            params = sum(t.numel() for t in model.parameters())
            d = os.path.join(tmp, name)
            model.save_pretrained(d, safe_serialization=True)
            rnd = random.Random(1)
            prompts = [[rnd.randrange(cfg.vocab_size) for _ in range(a.prompt_len)] for _ in range(a.batch)]
            wfile = os.path.join(tmp, f"{name}.json")
            json.dump({"prompts": prompts, "new_tokens": [a.new_tokens] * a.batch}, open(wfile, "w"))
            for mode in a.modes.split(","):
                rl = run_rleif(a, d, wfile, mode, a.dtype)
                hf = time_hf(model, prompts, a.new_tokens, mode, a.repeats)
                eager = run_rleif(a, d, wfile, mode, a.dtype, graphs=False) if mode == "greedy" else None
                row = {"gpu": gpu, "config": name, "params": params, "dtype": a.dtype, "mode": mode, "batch": a.batch,
                       "prompt_len": a.prompt_len, "new_tokens": a.new_tokens, "rleif_tokens_per_s": rl["tokens_per_s"],
                       "transformers_tokens_per_s": hf, "ratio": rl["tokens_per_s"] / hf,
                       "rleif_eager_tokens_per_s": eager["tokens_per_s"] if eager else None}
                print(f"{name:5s} ({params / 1e6:.0f}M) {a.dtype} {mode:7s}: rleif {rl['tokens_per_s']:9.0f} tok/s  "
                      f"transformers {hf:8.0f} tok/s  ratio {row['ratio']:5.2f}x"
                      + (f"  (rleif without CUDA graphs {eager['tokens_per_s']:.0f} tok/s)" if eager else ""), flush=True)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
            del model
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
