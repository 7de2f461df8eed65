#!/usr/bin/env python3
"""PyTorch eager reference for bench/train_throughput: transformers' LlamaForCausalLM trained with
torch.optim.AdamW on the batches rleif trained on (same weights, same threads).

  train_throughput.py --model DIR --batches FILE.safetensors --threads N --warmup W

FILE holds ids/<i> [B,T] and labels/<i> [B,T] (-100 = no loss, HF's unshifted convention) for each
step i. Prints one JSON line: {"step_s": [seconds per timed step], "fwd_s", "bwd_s", "opt_s": [the same split
into forward + loss, backward, clip + AdamW], "loss": [loss of every step]}. Each step: forward with labels (mean loss), backward, clip at 1.0,
AdamW step, zero_grad, exactly what a Hugging Face Trainer step does on the CPU.
"""
import argparse
import json
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    data = load_file(a.batches)
    n = len([k for k in data if k.startswith("ids/")])
    out = {"step_s": [], "fwd_s": [], "bwd_s": [], "opt_s": [], "loss": []}
    for i in range(n):
        ids, labels = data[f"ids/{i}"], data[f"labels/{i}"]
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        if i >= a.warmup:
            out["step_s"].append(t3 - t0)
            out["fwd_s"].append(t1 - t0)
            out["bwd_s"].append(t2 - t1)
            out["opt_s"].append(t3 - t2)
        out["loss"].append(float(loss))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
