#!/usr/bin/env python3
"""Reference timing for bench/tokenizer_bench.cc: the Hugging Face `tokenizers` library encoding the
same texts. Prints one JSON line: load_s, cold_s (first pass, empty word cache), times_s (warm
passes), tokens. --threads sets RAYON_NUM_THREADS before tokenizers is imported, so encode_batch
runs on exactly that many threads."""
import argparse
import json
import os
import time

ap = argparse.ArgumentParser()
ap.add_argument("--tokenizer", required=True)
ap.add_argument("--data", required=True)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--runs", type=int, default=5)
args = ap.parse_args()
os.environ["RAYON_NUM_THREADS"] = str(args.threads)
os.environ["TOKENIZERS_PARALLELISM"] = "true"

from tokenizers import Tokenizer  # noqa: E402  (after RAYON_NUM_THREADS)

texts = []
with open(args.data, encoding="utf-8") as f:
    for line in f:
        if line.strip():
            rec = json.loads(line)
            texts += [rec["question"], rec["answer"]]

t0 = time.perf_counter()
tok = Tokenizer.from_file(args.tokenizer)
load_s = time.perf_counter() - t0
t0 = time.perf_counter()
enc = tok.encode_batch(texts, add_special_tokens=False)
cold_s = time.perf_counter() - t0
times = []
for _ in range(args.runs):
    t0 = time.perf_counter()
    enc = tok.encode_batch(texts, add_special_tokens=False)
    times.append(time.perf_counter() - t0)
print(json.dumps({"load_s": load_s, "cold_s": cold_s, "times_s": times, "texts": len(texts),
                  "tokens": sum(len(e.ids) for e in enc)}))
