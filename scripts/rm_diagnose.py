#!/usr/bin/env python3
"""Where the demo's reward models fail, on the built-in math domain (docs/REWARD_MODELS.md, "Results").

  irm-pairs        IRM agreement by kind of pair (different step counts, valid vs ill-posed, answer
                   size), and the agreement of a judge that knows the synthetic teacher's rules
  prm-errors       kinds of wrong steps (false equation, wrong quantity, carried error) and the PRM's
                   AUC on each, plus the error rate of each operation
  policy-verifier  the SFT policy's own log-probability of the result digits as a verifier: AUC on
                   false equations, within-problem AUC and best-of-k on `rleif bestofn` samples
  budget-split     a PRM and an ORM training file from the same solutions (the first --problems
                   problems of prm_steps.jsonl after --skip): step labels vs outcome labels at one budget
  trace-bestof     best-of-k by each scorer, graded by the answer and by answer and work (the
                   teacher's step labels of the samples), exact over all k-subsets, with paired
                   differences and their standard errors over problems

  .venv/bin/python scripts/rm_diagnose.py irm-pairs --evolved runs/demo/evol/evolved.jsonl \
      --lists runs/demo/evol/irm_lists.jsonl --scores irm_scores.jsonl   # rleif rm score of the lists
  .venv/bin/python scripts/rm_diagnose.py prm-errors --data prm_steps.jsonl --scores prm_scores.jsonl
  .venv/bin/python scripts/rm_diagnose.py policy-verifier --policy runs/demo/sft/model \
      --steps prm_steps.jsonl --samples runs/demo/rm/bestofn/samples.jsonl
  .venv/bin/python scripts/rm_diagnose.py budget-split --data runs/demo/evol/prm_steps.jsonl \
      --problems 1500 --prm prm_1500.jsonl --orm orm_1500.jsonl
  .venv/bin/python scripts/rm_diagnose.py trace-bestof --samples samples.jsonl \
      --steps labels.jsonl --scores prm=scores_prm.jsonl orm=scores_orm.jsonl --k 16 64
"""
import argparse
import bisect
import itertools
import json
import math
import random
import re
import sys
from fractions import Fraction

EQUATION = re.compile(r"(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)")
ANSWER = re.compile(r"The answer is:\s*\$?(-?\d+)")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def auc(pos, neg):
    """P(a positive scores above a negative), ties 1/2 (Mann-Whitney)."""
    if not pos or not neg:
        return float("nan")
    neg = sorted(neg)
    won = sum(bisect.bisect_left(neg, v) + 0.5 * (bisect.bisect_right(neg, v) - bisect.bisect_left(neg, v)) for v in pos)
    return won / (len(pos) * len(neg))


def equation(step):
    """(true?, op, span of the result) of a step's first equation, or None."""
    m = EQUATION.search(step)
    if not m:
        return None
    a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
    value = {"+": a + b, "-": a - b, "*": a * b, "/": Fraction(a, b) if b else None}[op]
    return value == c, op, m.span(4)


def irm_pairs(args):
    evolved = {r["id"]: r for r in read_jsonl(args.evolved)}

    def criteria(cid):  # (valid, steps, answer capped at 999) as the synthetic teacher ranks
        r = evolved.get(cid)
        if not r or "response" not in r:
            return None
        m = ANSWER.search(r["response"])
        if not m:
            return (0, 0, 0)
        return (1, sum("=" in s for s in r["response"].split("\n")), min(float(m[1]), 999))

    kinds = {}
    for lst, sc in zip(read_jsonl(args.lists), read_jsonl(args.scores)):
        rank = {c: i for i, c in enumerate(lst["ranking"])}
        s = [x["score"] for x in sc["scores"]]
        c = [criteria(i) for i in lst["candidate_ids"]]
        for i, j in itertools.combinations(range(len(s)), 2):
            if c[i] is None or c[j] is None:
                kind = "unknown (no teacher answer)"
            elif c[i][0] != c[j][0]:
                kind = "valid vs ill-posed"
            elif c[i][0] == 0:
                kind = "both ill-posed"
            elif c[i][1] != c[j][1]:
                kind = "different step counts"
            elif abs(c[i][2] - c[j][2]) < 10:
                kind = "answers < 10 apart"
            else:
                kind = "answers >= 10 apart"
            teacher_i = rank[i] < rank[j]
            model = 0.5 if s[i] == s[j] else float((s[i] > s[j]) == teacher_i)
            judge = None
            if c[i] is not None and c[j] is not None:
                ki, kj = (c[i][0], c[i][1], c[i][2]), (c[j][0], c[j][1], c[j][2])
                judge = 0.5 if ki == kj else float((ki > kj) == teacher_i)
            k = kinds.setdefault(kind, [0.0, 0, 0.0, 0])
            k[0] += model
            k[1] += 1
            if judge is not None:
                k[2] += judge
                k[3] += 1
    total = sum(k[1] for k in kinds.values())
    print(f"{'pair kind':30s} {'pairs':>6s} {'share':>6s} {'model':>6s} {'rules judge':>11s}")
    for name, (m, n, j, nj) in sorted(kinds.items()):
        print(f"{name:30s} {n:6d} {n / total:6.1%} {m / n:6.3f} {(j / nj if nj else float('nan')):11.3f}")
    judged = sum(k[3] for k in kinds.values())
    print(f"all: model {sum(k[0] for k in kinds.values()) / total:.3f}; "
          f"rules judge {sum(k[2] for k in kinds.values()) / max(judged, 1):.3f} on {judged} pairs with teacher answers")


def prm_errors(args):
    data, scores = read_jsonl(args.data), read_jsonl(args.scores)
    pos, neg = [], {"false equation": [], "wrong quantity or operation": [], "answer line": [], "after the first error": []}
    ops, op_wrong = {}, {}
    for d, s in zip(data, scores):
        st = s["scores"][0]["steps"]
        seen = False
        for k, (step, label) in enumerate(zip(d["steps"], d["labels"])):
            eq = equation(step)
            if eq:
                ops[eq[1]] = ops.get(eq[1], 0) + 1
                op_wrong[eq[1]] = op_wrong.get(eq[1], 0) + (not eq[0])
            if k >= len(st) or label < 0:
                continue
            if label >= 0.5:
                pos.append(st[k])
                continue
            kind = ("after the first error" if seen else "answer line" if eq is None
                    else "false equation" if not eq[0] else "wrong quantity or operation")
            neg[kind].append(st[k])
            seen = True
    print(f"right steps {len(pos)}; AUC against all wrong steps {auc(pos, sum(neg.values(), [])):.3f}")
    for kind, v in neg.items():
        print(f"  {kind:30s} {len(v):6d} steps, AUC {auc(pos, v):.3f}")
    print("error rate per operation: " + ", ".join(f"{op} {op_wrong[op] / n:.1%} of {n}" for op, n in sorted(ops.items())))


def policy_verifier(args):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(args.policy).eval()
    tok = AutoTokenizer.from_pretrained(args.policy)

    def result_logps(prompt, text):
        """Log-probs of the result digits of every equation, the text tokenized as the policy wrote it
        (plain template: the response follows the question directly)."""
        enc = tok(prompt + text, return_offsets_mapping=True)
        ids, offs = enc["input_ids"], enc["offset_mapping"]
        with torch.no_grad():
            lp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
        out = []
        base = len(prompt)
        for line in text.split("\n"):
            eq = equation(line)
            if eq:
                a, b = base + eq[2][0], base + eq[2][1]
                toks = [i for i, (x, y) in enumerate(offs) if i > 0 and y > x and x >= a and y <= b]
                out.append((eq[0], min(lp[i - 1, ids[i]].item() for i in toks), all(
                    lp[i - 1].argmax().item() == ids[i] for i in toks)))
            base += len(line) + 1
        return out

    if args.steps:
        right, wrong, arg_r, arg_w = [], [], 0, 0
        for d in read_jsonl(args.steps)[: args.limit]:
            for ok, v, is_argmax in result_logps(d["prompt"], "\n".join(d["steps"])):
                (right if ok else wrong).append(v)
                arg_r += ok and is_argmax
                arg_w += (not ok) and is_argmax
        print(f"result digits: AUC {auc(right, wrong):.3f} (true {len(right)}, false {len(wrong)} equations); "
              f"argmax share: true {arg_r / max(len(right), 1):.1%}, false {arg_w / max(len(wrong), 1):.1%}")
    if args.samples:
        rng = random.Random(0)
        ks, won, pairs = [1, 2, 4, 8, 16], 0.0, 0
        acc = {k: 0.0 for k in ks}
        recs = read_jsonl(args.samples)
        for r in recs:
            texts = [s["text"] for s in r["samples"]]
            score = [min((v for _, v, _ in result_logps(r["prompt"], t)), default=-99.0) for t in texts]
            truth = str(r.get("truth", r.get("answer")))
            right = [(lambda m: m[-1] if m else None)(ANSWER.findall(t)) == truth for t in texts]
            for i, j in itertools.product(range(len(texts)), repeat=2):
                if right[i] and not right[j]:
                    pairs += 1
                    won += 1.0 if score[i] > score[j] else 0.5 if score[i] == score[j] else 0.0
            for k in [k for k in ks if k <= len(texts)]:
                reps = 200 if k < len(texts) else 1
                for _ in range(reps):
                    sub = rng.sample(range(len(texts)), k)
                    acc[k] += right[max(sub, key=lambda i: score[i])] / reps
        print(f"within-problem AUC {won / max(pairs, 1):.3f} ({pairs} pairs); best-of-k accuracy: " +
              ", ".join(f"k={k} {100 * v / len(recs):.1f}" for k, v in acc.items()))


def budget_split(args):
    rows = read_jsonl(args.data)
    order = list(dict.fromkeys(r["source_id"] for r in rows))
    keep = set(order[args.skip:args.skip + args.problems])
    if len(keep) < args.problems:
        sys.exit(f"{args.data}: {len(order)} problems, fewer than --skip {args.skip} + --problems {args.problems}")
    prm = [r for r in rows if r["source_id"] in keep and (args.shortcuts or "shortcut" not in r)]
    orm = [r for r in prm if "shortcut" not in r]
    if any("outcome" not in r for r in orm):
        sys.exit(f"{args.data}: no \"outcome\" label; rleif evol writes it when the solutions carry their answers")
    with open(args.prm, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in prm)
    with open(args.orm, "w") as f:
        f.writelines(json.dumps({"prompt": r["prompt"], "response": "\n".join(r["steps"]), "label": r["outcome"],
                                 "id": f"{r['source_id']}:{r['sample']}"}) + "\n" for r in orm)
    print(f"{len(keep)} problems: {len(prm)} PRM examples -> {args.prm}, {len(orm)} ORM examples -> {args.orm}")


def best_of_k(scores, good, k):
    """Expected `good` of the top-scored sample of a uniform k-subset (ties: the earlier sample)."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: -scores[i])
    total = math.comb(n, k)
    return sum(math.comb(n - 1 - r, k - 1) / total * good[i] for r, i in enumerate(order) if n - 1 - r >= k - 1)


def trace_bestof(args):
    labels = {(r["source_id"], r["sample"]): (r["outcome"], min(r["labels"])) for r in read_jsonl(args.steps)}
    recs = read_jsonl(args.samples)
    scorers = {}
    for spec in args.scores:
        name, path = spec.split("=", 1)
        scorers[name] = {r["id"]: [s["score"] for s in r["scores"]] for r in read_jsonl(path)}
    right = sum(v[0] for v in labels.values())
    lucky = sum(1 for v in labels.values() if v[0] == 1 and v[1] == 0)
    print(f"{len(labels)} samples; {lucky} right answers with a wrong step ({100 * lucky / max(right, 1):.1f}% of "
          f"{right} right answers)")
    per = {}  # (name, k, grade) -> per-problem accuracy
    for name, sc in scorers.items():
        for k in args.k:
            for grade in (0, 1):
                per[name, k, grade] = [best_of_k(sc[r["id"]], [labels[r["id"], i][grade] for i in
                                                               range(len(r["samples"]))], k) for r in recs]
    for k in args.k:
        for name in scorers:
            a, t = (sum(per[name, k, g]) / len(recs) for g in (0, 1))
            print(f"k={k} {name:<20} answer {100 * a:.1f}  answer and work {100 * t:.1f}")
        names = list(scorers)
        for x, y in itertools.combinations(names, 2):
            for g, what in ((0, "answer"), (1, "answer and work")):
                d = [p - q for p, q in zip(per[x, k, g], per[y, k, g])]
                m = sum(d) / len(d)
                se = (sum((v - m) ** 2 for v in d) / (len(d) - 1)) ** 0.5 / len(d) ** 0.5
                print(f"k={k} {x} - {y} ({what}): {100 * m:+.1f} +- {100 * se:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("irm-pairs")
    p.add_argument("--evolved", required=True)
    p.add_argument("--lists", required=True)
    p.add_argument("--scores", required=True, help="rleif rm score output for --lists")
    p = sub.add_parser("prm-errors")
    p.add_argument("--data", required=True, help="step-labelled solutions (rleif evol prm_steps.jsonl)")
    p.add_argument("--scores", required=True, help="rleif rm score output for --data")
    p = sub.add_parser("policy-verifier")
    p.add_argument("--policy", required=True)
    p.add_argument("--steps", help="step-labelled solutions: AUC of the result digits on false equations")
    p.add_argument("--samples", help="rleif bestofn samples.jsonl: within-problem AUC and best-of-k")
    p.add_argument("--limit", type=int, default=800)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("budget-split")
    p.add_argument("--data", required=True, help="rleif evol prm_steps.jsonl with \"outcome\" labels")
    p.add_argument("--problems", type=int, required=True, help="how many problems' solutions to keep")
    p.add_argument("--skip", type=int, default=0, help="problems to skip first (disjoint replicates)")
    p.add_argument("--shortcuts", action="store_true", help="keep the shortcut negatives in the PRM file")
    p.add_argument("--prm", required=True)
    p.add_argument("--orm", required=True)
    p = sub.add_parser("trace-bestof")
    p.add_argument("--samples", required=True, help="rleif generate / bestofn samples.jsonl")
    p.add_argument("--steps", required=True, help="rleif evol prm.solutions=SAMPLES output: the samples' labels")
    p.add_argument("--scores", nargs="+", required=True, help="NAME=FILE, rleif bestofn scores_NAME.jsonl")
    p.add_argument("--k", type=int, nargs="+", default=[16])
    args = ap.parse_args()
    {"irm-pairs": irm_pairs, "prm-errors": prm_errors, "policy-verifier": policy_verifier,
     "budget-split": budget_split, "trace-bestof": trace_bestof}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
