#!/usr/bin/env python3
"""A random Hugging Face model of a given shape, saved by transformers (config.json + safetensors),
for load benchmarks (bench/model_load_rss). No pretrained weights are downloaded.

  .venv/bin/python bench/make_random_model.py --out DIR [--shape qwen2-0.5b] [--dtype bfloat16]

qwen2-0.5b: Qwen2-0.5B's config (H 896, 24 layers, 14/2 heads, intermediate 4864, V 151936, tied
embeddings, q/k/v bias), 494M parameters.
"""
import argparse

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

SHAPES = {
    "qwen2-0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                       num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                       rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, bos_token_id=151643,
                       eos_token_id=151643),
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--shape", default="qwen2-0.5b", choices=sorted(SHAPES))
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    cfg = Qwen2Config(**SHAPES[a.shape])
    model = Qwen2ForCausalLM(cfg).to(getattr(torch, a.dtype))
    model.save_pretrained(a.out, safe_serialization=True)
    print(f"{a.shape}: {sum(p.numel() for p in model.parameters())} parameters, {a.dtype} -> {a.out}")


if __name__ == "__main__":
    main()
