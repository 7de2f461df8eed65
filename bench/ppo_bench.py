#!/usr/bin/env python3
"""One RL iteration of `rleif ppo` vs TRL on the demo policy, per phase, in one run.

  .venv/bin/python bench/ppo_bench.py [--algo grpo|ppo|both] [--rounds 2] [--iterations 4]
                                      [--threads 2] [--device cpu|cuda] [--bin build/cli/rleif]

grpo: `rleif ppo algo.advantage=grpo reward.kind=rule` vs TRL 1.13 GRPOTrainer (rule reward,
      num_generations = n, beta in the loss with k3, loss_type dapo = token mean, one optimizer step
      per generation batch of micro-batches of 32).
ppo:  `rleif ppo algo.advantage=gae reward.kind=orm` (critic from the ORM) vs TRL 0.29.1's
      trl.experimental.ppo.PPOTrainer (installed apart: .venv/trl_ppo, first on PYTHONPATH),
      ORM reward and critic, k1 KL in the reward, GAE, 2 minibatches of 64, one epoch.
Both sides: 32 prompts x 4 samples, max_new_tokens 96, temperature 1, lr 5e-5, fp32, the same
threads (torch.set_num_threads / train.threads, OMP_NUM_THREADS, MKL_NUM_THREADS, passive OpenMP
waits). rleif and the reference run alternately, `--rounds` times each, every run `--iterations`
long; the first iteration of each run is a warm-up and is dropped (rleif: its metrics.jsonl
time_*_s; the reference: bench/ppo_reference.py's per-iteration lines). Prints the median seconds
per phase and the ratios reference / rleif; --json writes every iteration.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHASES = [("gen_s", "generation"), ("reward_s", "reward"), ("exp_s", "old/ref/value forwards"),
          ("train_s", "update (fwd+bwd+AdamW)"), ("time_s", "iteration")]


def rleif_overrides(algo, a):
    common = [
        f"policy.path={a.policy}", f"data.prompts={a.prompts}", "data.eval=",
        f"rollout.prompts_per_iteration={a.prompts_per_iteration}", f"rollout.n={a.n}",
        f"rollout.max_new_tokens={a.max_new_tokens}", f"rollout.temperature={a.temperature}",
        f"rollout.max_batch={a.prompts_per_iteration * a.n}", "algo.ppo_epochs=1",
        f"algo.kl.beta={a.beta}", f"optim.lr={a.lr}", f"train.threads={a.threads}",
        "train.deterministic=false", f"train.device={a.device}", "train.precision=fp32", "train.save_every=0", "train.resume=false",
    ]
    if algo == "grpo":
        return common + [
            "algo.advantage=grpo", "reward.kind=rule", "reward.missing_eos_penalty=0", "algo.kl_in=loss",
            "algo.kl_estimator=k3", "algo.loss_agg=token_mean", "algo.minibatches=1", "algo.micro_batch=32",
            "algo.scale_rewards=group"]
    return common + [
        "algo.advantage=gae", "reward.kind=orm", f"reward.orm={a.rm}", "reward.batch_size=64",
        "reward.missing_eos_penalty=1.0", "algo.kl_in=reward", "algo.kl_estimator=k1", "algo.gamma=1.0",
        "algo.lambda=0.95", "algo.value_clip=0.2", "algo.whiten_advantages=true", "algo.minibatches=2",
        "algo.micro_batch=64", f"critic_optim.lr={a.lr}"]


def run_rleif(algo, a, env, tmp):
    out = os.path.join(tmp, f"rleif_{algo}")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [a.bin, "ppo", "--config", os.path.join(ROOT, "configs/ppo_math.yaml"),
           f"train.output_dir={out}", f"train.iterations={a.iterations}"] + rleif_overrides(algo, a)
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    rows = []
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            if "iteration" not in m or "time_s" not in m:
                continue
            rows.append({"iteration": m["iteration"], "warmup": m["iteration"] <= 1, "time_s": m["time_s"],
                         "gen_s": m["time_rollout_s"], "reward_s": m["time_reward_s"],
                         "exp_s": m["time_experience_s"], "train_s": m["time_train_s"],
                         "tokens": m.get("response_length", 0) * a.prompts_per_iteration * a.n})
    return rows


def run_reference(algo, a, env, tmp):
    env = dict(env)
    if algo == "ppo":
        env["PYTHONPATH"] = a.trl_ppo + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [a.python, os.path.join(ROOT, "bench/ppo_reference.py"), algo, "--policy", a.policy, "--prompts", a.prompts,
           "--iterations", str(a.iterations), "--warmup", "1", "--threads", str(a.threads), "--device", a.device,
           "--prompts-per-iteration", str(a.prompts_per_iteration), "--n", str(a.n),
           "--max-new-tokens", str(a.max_new_tokens), "--temperature", str(a.temperature), "--beta", str(a.beta),
           "--lr", str(a.lr), "--micro-batch", "32" if algo == "grpo" else "64",
           "--out", os.path.join(tmp, f"ref_{algo}")]
    if algo == "ppo":
        cmd += ["--rm", a.rm]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith('{"kind"')]
    if p.returncode != 0 or not rows:
        sys.exit(f"ppo_bench: the {algo} reference failed (exit {p.returncode}); run the command above by hand")
    return rows


def median(rows, key):
    v = [r[key] for r in rows if not r["warmup"]]
    return statistics.median(v) if v else float("nan")


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algo", choices=["grpo", "ppo", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rleif / reference runs per algorithm")
    ap.add_argument("--iterations", type=int, default=4, help="iterations per run, the first one a warm-up")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu | cuda (rleif train.device, torch .to(device))")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/cli/rleif"))
    ap.add_argument("--python", default=os.path.join(ROOT, ".venv/bin/python"))
    ap.add_argument("--trl-ppo", default=os.path.join(ROOT, ".venv/trl_ppo"), help="a `pip --target` install of trl==0.29.1")
    ap.add_argument("--policy", default="runs/demo/sft/model")
    ap.add_argument("--rm", default="runs/demo/rm/orm/model")
    ap.add_argument("--prompts", default="runs/demo/data/train.jsonl")
    ap.add_argument("--prompts-per-iteration", type=int, default=32)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--beta", type=float, default=0.02)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--json", help="write every iteration here")
    a = ap.parse_args()
    if a.device.startswith("cuda"):
        a.threads = max(a.threads, 1)
    # A private copy: another engineer's relink must not swap the binary mid-run.
    tmp = tempfile.mkdtemp(prefix="ppo_bench_")
    binary = os.path.join(tmp, "rleif")
    shutil.copy2(a.bin, binary)
    a.bin = binary
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads), OMP_WAIT_POLICY="passive",
               TRL_EXPERIMENTAL_SILENCE="1", TOKENIZERS_PARALLELISM="false")
    algos = ["grpo", "ppo"] if a.algo == "both" else [a.algo]
    results = {"device": a.device, "threads": a.threads, "load_before": load(), "runs": []}
    for algo in algos:
        for r in range(a.rounds):
            order = ["rleif", "reference"] if r % 2 == 0 else ["reference", "rleif"]
            for side in order:
                t0 = time.time()
                rows = run_rleif(algo, a, env, tmp) if side == "rleif" else run_reference(algo, a, env, tmp)
                results["runs"].append({"algo": algo, "side": side, "round": r, "load": load(), "rows": rows})
                print(f"  {algo} {side} round {r}: {time.time() - t0:.0f}s wall, iteration "
                      f"{median(rows, 'time_s'):.2f}s (median after warm-up), load {load()}", file=sys.stderr, flush=True)
    results["load_after"] = load()
    print(f"\ndevice {a.device}, {a.threads} threads, load average {results['load_before']} -> {results['load_after']}")
    for algo in algos:
        rl = [x for run in results["runs"] if run["algo"] == algo and run["side"] == "rleif" for x in run["rows"]]
        rf = [x for run in results["runs"] if run["algo"] == algo and run["side"] == "reference" for x in run["rows"]]
        name = "TRL 1.13 GRPOTrainer" if algo == "grpo" else "TRL 0.29.1 PPOTrainer"
        n = sum(not x["warmup"] for x in rl), sum(not x["warmup"] for x in rf)
        print(f"\n{algo}: median seconds per iteration ({n[0]} rleif / {n[1]} reference iterations after warm-up)")
        print(f"| phase | rleif | {name} | ratio |")
        print("|---|---:|---:|---:|")
        for key, label in PHASES:
            x, y = median(rl, key), median(rf, key)
            ratio = f"{y / x:.2f}x" if x > 1e-3 else "-"
            print(f"| {label} | {x:.2f} | {y:.2f} | {ratio} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
