#!/usr/bin/env python3
"""Python reference for bench/rm_throughput: TRL's PRMTrainer / RewardTrainer training loop, or a
plain transformers forward for scoring, on the batches rleif runs (same weights, same threads).

  rm_reference.py --model DIR --data FILE.json --task prm|pairwise --what train|score
                  [--head classifier|likelihood] --batch B --steps N --threads T [--lr 1e-4] [--weight-decay 0.1]

FILE.json is a list of examples in the order rleif batches them, already tokenised by rleif's encoder
(rm/encode.h), in the columns TRL takes pre-tokenised data in, so TRL skips its own tokenisation:
  prm       {"input_ids": [T], "labels": [T]}   label at each step's last token, -100 elsewhere
            (what PRMTrainer.tokenize_row builds)
  pairwise  {"chosen_ids": [T], "rejected_ids": [T]}
  score     {"input_ids": [T], "ends": [S]}      the positions rleif reads scores at

Steps are driven from stdin so the caller can interleave them with its own: "ready" is printed when
the next step can start (nothing else runs until the answer); each line "<i>" then runs step i (examples i*B .. i*B+B-1) and answers one JSON
line {"i", "step_s", "fwd_s", "bwd_s", "opt_s", "loss", "tokens", "padded", "minflt"}.

train: the real TRL trainer runs (trainer.train(), train_sampling_strategy=sequential so its batches
are rleif's); a callback blocks in on_step_begin until the caller asks for the step. step_s is
on_step_begin -> on_step_end: Trainer.training_step (TRL's collated batch moved to the device,
compute_loss: forward + loss (+ RewardTrainer's reward metrics), backward), clip at 1.0, the
optimizer step (transformers' default optim), the scheduler step, zero_grad. The DataLoader fetch +
collation (DataCollatorForTokenClassification / DataCollatorForPreference, right padding) happens
before on_step_begin and is not in step_s. TRL's defaults gradient_checkpointing=True and bf16=True
are turned off: rleif's side runs fp32 without checkpointing.

score: model.eval(), torch.no_grad(); step_s is right padding + attention mask, the forward, and
softmax(logits)[..., 1] at the step ends (token classification) or the pooled logit (sequence).

--head likelihood (a likelihood PRM, rm/verifier.h; the directory is a LlamaForCausalLM with scale and
bias in rleif_rm.json): there is no TRL trainer for it, so the reference is the computation written
plainly in PyTorch. Examples carry "response_start" (and "step_labels" for training). A step's logit is
scale * m + bias, m the running minimum over response tokens t <= the step end whose decoded text holds
a digit of log_softmax(logits)[t-1, ids[t]] (0 when none). score: right padding + mask, the forward,
the features, sigmoid. train: the same with grad, mean BCE over labelled steps, backward, clip at 1.0,
torch.optim.AdamW (decay on matrices only, as rleif's groups; constant lr), zero_grad.
"""
import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch
from transformers import (AutoModelForSequenceClassification, AutoModelForTokenClassification,
                          PreTrainedTokenizerFast, TrainerCallback)


def load_tokenizer(model_dir):
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    tok.pad_token, tok.eos_token, tok.bos_token = "<pad>", "</s>", "<s>"
    return tok


class Stepper(TrainerCallback):
    """Runs the Trainer one step per stdin line and reports each step's times."""

    def __init__(self):
        self.t = {}
        self.i = None

    def on_step_begin(self, args, state, control, **kw):
        # "ready" only now, after the Trainer fetched and collated this step's batch, so no work of
        # ours overlaps the caller's timed step.
        print("ready", flush=True)
        line = sys.stdin.readline()
        if not line:
            sys.exit(0)
        self.i = int(line)
        self.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        self.t = {"begin": time.perf_counter()}

    def on_pre_optimizer_step(self, args, state, control, **kw):
        self.t["pre_opt"] = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        end = time.perf_counter()
        t, tr = self.t, self.trainer
        print(json.dumps({"i": self.i, "step_s": end - t["begin"], "fwd_s": tr.fwd_end - t["begin"],
                          "bwd_s": tr.step_end - tr.fwd_end, "opt_s": end - tr.step_end,
                          "loss": tr.last_loss, "tokens": tr.last_tokens, "padded": tr.last_padded,
                          "threads": torch.get_num_threads(),
                          "checkpointing": bool(getattr(tr.model, "is_activation_checkpointing", False)),
                          "minflt": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self.faults}), flush=True)


def timed(base):
    """The TRL trainer with the end of the forward + loss and of training_step recorded."""

    class Timed(base):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            self.last_tokens = int(inputs["attention_mask"].sum())
            self.last_padded = int(inputs["input_ids"].numel())
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            self.fwd_end = time.perf_counter()
            self.last_loss = float((out[0] if isinstance(out, tuple) else out).detach())
            return out

        def training_step(self, *a, **kw):
            loss = super().training_step(*a, **kw)
            self.step_end = time.perf_counter()
            return loss

    return Timed


def train(a, examples):
    from datasets import Dataset
    tok = load_tokenizer(a.model)
    common = dict(output_dir=a.out, per_device_train_batch_size=a.batch, max_steps=a.steps, learning_rate=a.lr,
                  weight_decay=a.weight_decay, lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=1.0,
                  gradient_checkpointing=False, bf16=False, fp16=False, use_cpu=True, report_to=[],
                  logging_steps=10**9, save_strategy="no", train_sampling_strategy="sequential",
                  dataloader_num_workers=0, max_length=None, seed=0, disable_tqdm=True)
    if a.task == "prm":
        from trl.experimental.prm import PRMConfig, PRMTrainer
        model = AutoModelForTokenClassification.from_pretrained(a.model, dtype=torch.float32)
        ds = Dataset.from_list([{"input_ids": e["input_ids"], "labels": e["labels"]} for e in examples])
        trainer = timed(PRMTrainer)(model=model, args=PRMConfig(**common), train_dataset=ds, processing_class=tok)
    else:
        from trl import RewardConfig, RewardTrainer
        model = AutoModelForSequenceClassification.from_pretrained(a.model, dtype=torch.float32)
        ds = Dataset.from_list([{"chosen_ids": e["chosen_ids"], "rejected_ids": e["rejected_ids"]} for e in examples])
        trainer = timed(RewardTrainer)(model=model, args=RewardConfig(**common), train_dataset=ds,
                                       processing_class=tok)
    cb = Stepper()
    cb.trainer = trainer
    trainer.add_callback(cb)
    torch.set_num_threads(a.threads)
    trainer.train()


def score(a, examples):
    cls = AutoModelForTokenClassification if a.task == "prm" else AutoModelForSequenceClassification
    model = cls.from_pretrained(a.model, dtype=torch.float32).eval()
    pad = pad_id(model)
    for i, batch in requested_batches(a, examples):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        with torch.no_grad():
            ids, mask = right_pad(batch, pad)  # [B,T]
            logits = model(input_ids=ids, attention_mask=mask).logits  # [B,T,2] or [B,1]
            if a.task == "prm":
                rows = torch.tensor([b for b, e in enumerate(batch) for _ in e["ends"]])
                cols = torch.tensor([s for e in batch for s in e["ends"]])
                out = torch.softmax(logits[rows, cols], -1)[:, 1]  # [E]
            else:
                out = logits[:, 0]  # [B]
        t1 = time.perf_counter()
        print(json.dumps({"i": i, "step_s": t1 - t0, "fwd_s": t1 - t0, "bwd_s": 0.0, "opt_s": 0.0,
                          "loss": float(out.sum()), "tokens": int(mask.sum()), "padded": int(ids.numel()),
                          "threads": torch.get_num_threads(),
                          "minflt": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}), flush=True)


def requested_batches(a, examples):
    """Yields (i, batch i) for each index the caller writes to stdin, printing "ready" before each read;
    ends when stdin does."""
    while True:
        print("ready", flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        i = int(line)
        yield i, examples[i * a.batch:(i + 1) * a.batch]


def pad_id(model):
    """The model's pad id (0 when its config names none)."""
    return model.config.pad_token_id if model.config.pad_token_id is not None else 0


def right_pad(batch, pad):
    """ids [B,T] right-padded with `pad` and the attention mask [B,T] of a batch of examples."""
    T = max(len(e["input_ids"]) for e in batch)
    ids = torch.full((len(batch), T), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), T), dtype=torch.long)
    for b, e in enumerate(batch):
        ids[b, :len(e["input_ids"])] = torch.tensor(e["input_ids"])
        mask[b, :len(e["input_ids"])] = 1
    return ids, mask


def likelihood_head(model_dir):
    """(scale, bias, digit mask [V]) of a likelihood PRM directory."""
    from tokenizers import Tokenizer
    head = json.load(open(os.path.join(model_dir, "rleif_rm.json")))["head"]
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    vocab = json.load(open(os.path.join(model_dir, "config.json")))["vocab_size"]
    mask = torch.tensor([head["tokens"] == "all" or (i < tok.get_vocab_size() and any(c in "0123456789" for c in tok.decode([i])))
                         for i in range(vocab)])
    return head["scale"], head["bias"], mask


def likelihood_logits(model, batch, scale, bias, mask, pad):
    """Step logits [E] of a batch, and its real and padded token counts."""
    ids, att = right_pad(batch, pad)  # [B,T]
    lp = torch.log_softmax(model(input_ids=ids, attention_mask=att).logits.float(), -1)  # [B,T,V]
    tok_lp = lp[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]                             # [B,T-1] log p(ids[t])
    out = []
    for b, e in enumerate(batch):
        start, n = max(e["response_start"], 1), len(e["input_ids"])
        v = torch.where(mask[ids[b, start:n]], tok_lp[b, start - 1:n - 1], torch.zeros(()))
        m = torch.cat([torch.zeros(1), torch.cummin(v, 0).values])  # [n-start+1], 0 = nothing scored yet
        out.append(m[torch.tensor([min(max(x - start + 1, 0), n - start) for x in e["ends"]])])
    return scale * torch.cat(out) + bias, int(att.sum()), int(ids.numel())


def likelihood(a, examples):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    s0, b0, mask = likelihood_head(a.model)
    pad = pad_id(model)
    scale, bias = torch.nn.Parameter(torch.tensor(float(s0))), torch.nn.Parameter(torch.tensor(float(b0)))
    train = a.what == "train"
    model.train(train)
    if train:
        params = list(model.parameters())
        opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": a.weight_decay},
                                 {"params": [p for p in params if p.dim() < 2] + [scale, bias], "weight_decay": 0.0}],
                                lr=a.lr)
    for i, batch in requested_batches(a, examples):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        with torch.set_grad_enabled(train):
            z, tokens, padded = likelihood_logits(model, batch, scale, bias, mask, pad)
            if train:
                y = torch.tensor([l for e in batch for l in e["step_labels"]], dtype=torch.float32)
                keep = y >= 0
                out = torch.nn.functional.binary_cross_entropy_with_logits(z[keep], y[keep])
            else:
                out = torch.sigmoid(z).sum()
        t1 = time.perf_counter()
        if train:
            out.backward()
        t2 = time.perf_counter()
        if train:
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + [scale, bias], 1.0)
            opt.step()
            opt.zero_grad()
        t3 = time.perf_counter()
        print(json.dumps({"i": i, "step_s": t3 - t0, "fwd_s": t1 - t0, "bwd_s": t2 - t1, "opt_s": t3 - t2,
                          "loss": float(out), "tokens": tokens, "padded": padded, "threads": torch.get_num_threads(),
                          "minflt": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--task", choices=["prm", "pairwise"], required=True)
    ap.add_argument("--what", choices=["train", "score"], required=True)
    ap.add_argument("--head", choices=["classifier", "likelihood"], default="classifier")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--out", default="/tmp/rm_reference_out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    examples = json.load(open(a.data))
    assert len(examples) >= a.batch * a.steps, f"{a.data}: {len(examples)} examples, need {a.batch * a.steps}"
    if a.head == "likelihood":
        likelihood(a, examples)
    else:
        (train if a.what == "train" else score)(a, examples)


if __name__ == "__main__":
    main()
