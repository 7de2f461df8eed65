#!/usr/bin/env python3
"""PyTorch eager reference for bench/train_throughput: transformers' LlamaForCausalLM trained with
torch.optim.AdamW on the batches rleif trains on (same weights, same threads).

  train_throughput.py --model DIR --batches FILE.safetensors --threads N

FILE holds ids/<i> [B,T] and labels/<i> [B,T] (-100 = no loss, HF's unshifted convention) for each
step i. The steps are driven from stdin so the caller can interleave them with its own: each line
"<i>" runs step i and answers one JSON line {"i", "step_s", "fwd_s", "bwd_s", "opt_s", "loss"} (the
step's seconds split into forward + loss, backward, clip + AdamW); "ready" is printed once the model
is loaded; end of input ends the process. Each step: forward with labels (mean loss), backward, clip
at 1.0, AdamW step, zero_grad, exactly what a Hugging Face Trainer step does on the CPU.
"""
import argparse
import json
import resource
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    data = load_file(a.batches)
    print("ready", flush=True)
    for line in sys.stdin:
        i = int(line)
        ids, labels = data[f"ids/{i}"], data[f"labels/{i}"]
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        print(json.dumps({"i": i, "step_s": t3 - t0, "fwd_s": t1 - t0, "bwd_s": t2 - t1, "opt_s": t3 - t2,
                          "minflt": faults, "loss": float(loss.detach())}), flush=True)


if __name__ == "__main__":
    main()
