#!/usr/bin/env python3
"""Python references for bench/ppo_bench.py: one RL iteration (generate -> reward -> old/ref/value
forwards -> update) of TRL's own trainers on the demo policy, timed per phase.

  ppo_reference.py grpo --policy DIR --prompts FILE --iterations N --threads T [--device cpu|cuda] ...
  ppo_reference.py ppo  --policy DIR --rm DIR --prompts FILE --iterations N --threads T [--device ...] ...

grpo: TRL 1.13 `GRPOTrainer` (transformers `generate`, no vLLM) with a rule reward (the final
      "The answer is: N" against the prompt's answer), num_generations samples per prompt, one
      optimizer step per generation batch (steps_per_generation = gradient_accumulation_steps), the
      k3 KL to a frozen reference in the loss (beta), loss_type "dapo" (token mean over the batch).
ppo:  TRL 0.29's `trl.experimental.ppo.PPOTrainer` (removed from TRL >= 1.0; the driver puts a
      0.29.1 install first on PYTHONPATH) with the ORM as reward model and as the critic's start,
      per-token k1 KL in the reward, GAE, one PPO epoch over num_mini_batches minibatches.

Each trainer runs its own train() loop; the phases are timed by wrapping the functions the loop
calls (see the two `run_*` functions), and a callback closes an iteration at each optimizer step
(grpo) or PPO update (ppo). One JSON line per iteration on stdout:
  {"kind", "iteration", "time_s", "gen_s", "reward_s", "exp_s", "train_s", "tokens"}
gen_s: sampling; reward_s: the reward (rule or reward-model forward); exp_s: the rest of the
experience (reference / old / value forwards, decoding, advantages); train_s: the rest of the
iteration (policy and value forward + backward, optimizer steps, logging). The first
`--warmup` iterations are marked "warmup": true.
"""
import argparse
import json
import os
import re
import sys
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")

import torch  # noqa: E402


def render_plain(question):
    # rleif's "plain" template (train/sft_data.cc): the prompt text itself; the tokenizer adds <s>.
    return question


def load_prompts(path, limit):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                j = json.loads(line)
                q = j.get("prompt") or j.get("question") or j.get("instruction") or j.get("problem")
                rows.append({"prompt": render_plain(q), "answer": str(j.get("answer", ""))})
                if limit and len(rows) >= limit:
                    break
    return rows


_ANS = re.compile(r"the answer is\s*:?\s*\$?(-?[\d,]*\.?\d+)", re.IGNORECASE)


def rule_correct(text, truth):
    # The same check as rleif's reward.kind=rule (core/answer.cc) on these integer answers.
    m = _ANS.findall(text)
    if not m:
        return False
    try:
        return abs(float(m[-1].replace(",", "")) - float(truth)) < 1e-6
    except ValueError:
        return False


class Phases:
    """Seconds per phase, accumulated between two iteration ends."""

    def __init__(self, sync):
        self.sync = sync
        self.reset()

    def reset(self):
        self.acc = {"gen_s": 0.0, "reward_s": 0.0, "exp_total_s": 0.0}
        self.tokens = 0

    def wrap(self, key, fn):
        def inner(*a, **k):
            self.sync()
            t0 = time.perf_counter()
            out = fn(*a, **k)
            self.sync()
            self.acc[key] += time.perf_counter() - t0
            return out

        return inner


def make_callback(ph, kind, warmup, sync):
    from transformers import TrainerCallback

    class IterTimer(TrainerCallback):
        def __init__(self):
            self.last = None
            self.n = 0

        def on_train_begin(self, args, state, control, **kw):
            sync()
            self.last = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            sync()
            now = time.perf_counter()
            a = ph.acc
            total = now - self.last
            exp = a["exp_total_s"] - a["gen_s"] - a["reward_s"]
            self.n += 1
            print(json.dumps({"kind": kind, "iteration": self.n, "warmup": self.n <= warmup, "time_s": total,
                              "gen_s": a["gen_s"], "reward_s": a["reward_s"], "exp_s": exp,
                              "train_s": total - a["exp_total_s"], "tokens": ph.tokens}), flush=True)
            ph.reset()
            self.last = time.perf_counter()

    return IterTimer()


def stub_vllm_client_deps():
    # TRL 1.13's grpo_trainer imports its vLLM HTTP client, which imports requests and urllib3; neither is
    # in .venv and the client is never used here (use_vllm=False), so empty stand-ins satisfy the import.
    import importlib.machinery
    import types

    for name in ["requests", "requests.adapters", "urllib3", "urllib3.util", "urllib3.util.retry"]:
        try:
            __import__(name)
        except ImportError:
            m = types.ModuleType(name)
            m.__spec__ = importlib.machinery.ModuleSpec(name, None)
            m.HTTPAdapter = m.Retry = m.Session = object
            m.ConnectionError = ConnectionError
            sys.modules[name] = m


def run_grpo(a, sync):
    stub_vllm_client_deps()
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tok = AutoTokenizer.from_pretrained(a.policy)
    tok.padding_side = "left"
    rows = load_prompts(a.prompts, a.limit)
    ds = Dataset.from_list(rows)

    def answer_reward(prompts, completions, answer, **kw):
        return [1.0 if rule_correct(c, t) else 0.0 for c, t in zip(completions, answer)]

    cfg = GRPOConfig(
        output_dir=a.out, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        use_cpu=a.device == "cpu", bf16=False, fp16=False, gradient_checkpointing=False,
        per_device_train_batch_size=a.micro_batch,
        gradient_accumulation_steps=a.prompts_per_iteration * a.n // a.micro_batch,
        num_generations=a.n, max_completion_length=a.max_new_tokens, temperature=a.temperature, top_p=1.0,
        beta=a.beta, loss_type="dapo", epsilon=0.2, num_iterations=1, scale_rewards="group",
        learning_rate=a.lr, lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=1.0,
        max_steps=a.iterations, seed=a.seed, dataloader_num_workers=0, use_vllm=False,
    )
    model = AutoModelForCausalLM.from_pretrained(a.policy, dtype=torch.float32)
    trainer = GRPOTrainer(model=model, reward_funcs=answer_reward, args=cfg, train_dataset=ds, processing_class=tok)
    ph = Phases(sync)
    gen = trainer._generate_single_turn

    def gen_counted(*args, **kw):
        out = gen(*args, **kw)
        ph.tokens += sum(len(c) for c in out[0])
        return out

    trainer._generate_single_turn = ph.wrap("gen_s", gen_counted)
    trainer._calculate_rewards = ph.wrap("reward_s", trainer._calculate_rewards)
    trainer._generate_and_score_completions = ph.wrap("exp_total_s", trainer._generate_and_score_completions)
    trainer.add_callback(make_callback(ph, "grpo", a.warmup, sync))
    print("ready", file=sys.stderr, flush=True)
    trainer.train()


def run_ppo(a, sync):
    import copy

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    import trl
    from trl.experimental.ppo import PPOConfig, PPOTrainer
    from trl.experimental.ppo import ppo_trainer as mod

    tok = AutoTokenizer.from_pretrained(a.policy)
    tok.padding_side = "left"
    rows = load_prompts(a.prompts, a.limit)
    # n samples per prompt as in rleif: every prompt n times (the dataloader shuffles).
    ids = [tok(r["prompt"])["input_ids"] for r in rows for _ in range(a.n)]
    ds = Dataset.from_dict({"input_ids": ids})
    batch = a.prompts_per_iteration * a.n
    cfg = PPOConfig(
        output_dir=a.out, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        use_cpu=a.device == "cpu", bf16=False, fp16=False, gradient_checkpointing=False,
        # TRL's PPO loop: batch = per_device * grad_accum; minibatch = batch / num_mini_batches, one
        # optimizer step each when grad_accum = 1; per_device is only the micro-batch's upper bound.
        per_device_train_batch_size=batch, gradient_accumulation_steps=1,
        num_mini_batches=batch // a.micro_batch, num_ppo_epochs=a.ppo_epochs,
        # generation in one generate() call of the whole batch, as GRPO and rleif's engine do
        local_rollout_forward_batch_size=batch, total_episodes=batch * a.iterations,
        response_length=a.max_new_tokens, temperature=a.temperature, stop_token="eos",
        missing_eos_penalty=1.0, kl_coef=a.beta, kl_estimator="k1", cliprange=0.2, cliprange_value=0.2,
        vf_coef=0.1, gamma=1.0, lam=0.95, whiten_rewards=False, num_sample_generations=0,
        learning_rate=a.lr, lr_scheduler_type="constant", weight_decay=0.0, seed=a.seed,
        sft_model_path=a.policy, reward_model_path=a.rm,
    )
    policy = AutoModelForCausalLM.from_pretrained(a.policy, dtype=torch.float32)
    ref = AutoModelForCausalLM.from_pretrained(a.policy, dtype=torch.float32)
    rm = AutoModelForSequenceClassification.from_pretrained(a.rm, dtype=torch.float32, num_labels=1)
    value = copy.deepcopy(rm)
    trainer = PPOTrainer(args=cfg, processing_class=tok, model=policy, ref_model=ref, reward_model=rm,
                         train_dataset=ds, value_model=value)
    ph = Phases(sync)
    gen = mod.batch_generation

    def gen_counted(*args, **kw):
        qr, logits = gen(*args, **kw)
        resp = qr[:, args[1].shape[1]:]
        ph.tokens += int((resp != tok.pad_token_id).sum())
        return qr, logits

    get_reward = mod.get_reward

    def reward_or_value(model, *args, **kw):
        # get_reward serves the critic's values (experience) and the reward model's score (reward).
        key = "reward_s" if model is trainer.reward_model else None
        if key is None:
            return get_reward(model, *args, **kw)
        return ph.wrap(key, get_reward)(model, *args, **kw)

    mod.batch_generation = ph.wrap("gen_s", gen_counted)
    mod.get_reward = reward_or_value
    # Everything of an update before its PPO epochs: generation, reward, forwards, GAE.
    orig_forward = mod.forward
    state = {"t0": None}

    def forward_marked(model, *args, **kw):
        if torch.is_grad_enabled() and state["t0"] is not None:
            # The first forward with grad: the experience phase ended.
            sync()
            ph.acc["exp_total_s"] += time.perf_counter() - state["t0"]
            state["t0"] = None
        return orig_forward(model, *args, **kw)

    mod.forward = forward_marked

    cb = make_callback(ph, "ppo", a.warmup, sync)
    on_end = cb.on_step_end

    def on_step_end(*args, **kw):
        on_end(*args, **kw)
        state["t0"] = cb.last

    def on_train_begin(*args, **kw):
        sync()
        cb.last = state["t0"] = time.perf_counter()

    cb.on_step_end = on_step_end
    cb.on_train_begin = on_train_begin
    trainer.add_callback(cb)
    print(f"ready (trl {trl.__version__})", file=sys.stderr, flush=True)
    trainer.train()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["grpo", "ppo"])
    ap.add_argument("--policy", required=True)
    ap.add_argument("--rm", help="ORM directory (ppo: reward model and critic start)")
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=4, help="iterations including the warm-up")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--prompts-per-iteration", type=int, default=32)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--micro-batch", type=int, default=32,
                    help="grpo: per_device_train_batch_size (gradients accumulate to the batch); ppo: the minibatch")
    ap.add_argument("--ppo-epochs", type=int, default=1)
    ap.add_argument("--beta", type=float, default=0.02)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default="/tmp/ppo_reference_out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cuda = a.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if a.kind == "ppo" and not a.rm:
        ap.error("ppo needs --rm")
    (run_grpo if a.kind == "grpo" else run_ppo)(a, sync)


if __name__ == "__main__":
    main()
