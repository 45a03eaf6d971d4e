"""The training and measuring code shared by train_recall.py (Mamba-2) and train_mom_recall.py (MoM):
the recall-v2 task of recall_task.py, a curriculum on the number of pairs, the loss weights, greedy
scoring (the same rule as scanstream's `eval recall`), the training run, export and training.json.

Training examples: n_pairs uniform in [MIN_PAIRS, cur_max], cur_max growing linearly from
START_PAIRS to MAX_PAIRS over the first CURRICULUM share of the steps; n_asked uniform in
[1, min(MAX_ASKED, n_pairs)]; the context shown twice with probability P_TWICE.
Loss weight 1 on the value bytes of the answer line, OTHER_WEIGHT on every other byte.
"""
import argparse
import json
import os
import time

import common
import numpy as np
import torch

from recall_task import TASK, build, eval_example, example_from, value_positions

BATCH = 16
MIN_PAIRS, START_PAIRS, MAX_PAIRS = 2, 4, 20
CURRICULUM = 0.3
MAX_ASKED = 4
P_TWICE = 0.5
OTHER_WEIGHT = 0.01
# the longest training text: MAX_PAIRS pairs, MAX_ASKED asked, context shown twice
TRAIN_LENGTH = (lambda c, a: len(c + c + a))(*build([("a", "0")] * MAX_PAIRS, ["a"] * MAX_ASKED))
EVAL_PAIRS = [4, 8, 12, 16, 20]
EVAL_ASKED = 4
EVAL_EXAMPLES = 24


def cur_max_pairs(progress):
    f = min(1.0, progress / CURRICULUM)
    return int(round(START_PAIRS + f * (MAX_PAIRS - START_PAIRS)))


def train_example(rng, max_pairs=MAX_PAIRS):
    n = int(rng.integers(MIN_PAIRS, max_pairs + 1))
    k = int(rng.integers(1, min(MAX_ASKED, n) + 1))
    pairs, asked = example_from(lambda: int(rng.integers(0, 2 ** 31)), n, k)
    context, answers = build(pairs, asked)
    prefix = context + context if rng.random() < P_TWICE else context
    return prefix, answers


def mark_values(w, prefix, answers, n):
    for pos, _k, v in value_positions(len(prefix), answers):
        w[pos - 1: pos - 1 + len(v)] = 1.0      # targets = the value bytes


def encode_batch(examples):
    return common.encode_batch(examples, OTHER_WEIGHT, mark_values)


@torch.no_grad()
def score(model, prefix, answers):
    """-> (correct values, asked values); a value is correct if every byte is the argmax
    (teacher forcing: the whole text is fed, so earlier answers are given)."""
    ids = list((prefix + answers).encode("ascii"))
    pred = model(torch.tensor([ids[:-1]], device=common.DEVICE))[0, :, :256].argmax(-1).tolist()
    vp = value_positions(len(prefix), answers)
    ok = sum(all(pred[pos - 1 + j] == ids[pos + j] for j in range(len(v))) for pos, _k, v in vp)
    return ok, len(vp)


def per_example(model, n_pairs, twice, n_examples=EVAL_EXAMPLES):
    """Correct values of each evaluation example i = 0..n_examples-1 (for the runtime test)."""
    out = []
    for i in range(n_examples):
        pairs, asked = eval_example(n_pairs, min(EVAL_ASKED, n_pairs), i)
        context, answers = build(pairs, asked)
        out.append(score(model, context + context if twice else context, answers)[0])
    return out


def accuracy(model, n_pairs, twice, n_examples=EVAL_EXAMPLES):
    ok = tot = 0
    for i in range(n_examples):
        pairs, asked = eval_example(n_pairs, min(EVAL_ASKED, n_pairs), i)
        context, answers = build(pairs, asked)
        a, b = score(model, context + context if twice else context, answers)
        ok += a
        tot += b
    return ok / tot


def value_loss(model, examples):
    x, y, w = encode_batch(examples)
    D = common.DEVICE
    return common.masked_ce(model(x.to(D)).cpu(), y, (w == 1.0).float()).item()


def final_losses(model, seed, n=256):
    """Value loss on n fresh training-distribution examples (numpy seed + 2) and on the validation
    examples (seed + 1, the first 64 of which are the ones evaluated during training, then more)."""
    trng, vrng = np.random.default_rng(seed + 2), np.random.default_rng(seed + 1)
    tr = [train_example(trng) for _ in range(n)]
    va = [train_example(vrng) for _ in range(n)]
    with torch.no_grad():
        return (float(np.mean([value_loss(model, tr[i:i + 64]) for i in range(0, n, 64)])),
                float(np.mean([value_loss(model, va[i:i + 64]) for i in range(0, n, 64)])))


def remeasure(name, load_exported, seed, folder):
    """Recomputes the final losses of an exported model into its training.json (see final_losses)."""
    model = load_exported(folder).eval()
    tr, va = final_losses(model, seed)
    path = os.path.join(folder, "training.json")
    info = json.load(open(path))
    info["final_train_value_loss"], info["final_val_value_loss"] = tr, va
    info["final_losses_note"] = "256 examples each, recomputed from the exported files by final_losses()"
    info["per_example_correct"] = {str(n): {"once": per_example(model, n, False), "twice": per_example(model, n, True)}
                                   for n in (8, 16)}
    with open(path, "w") as f:
        json.dump(info, f, indent=1)
    print(f"{name}: value loss train {tr:.4f}, validation {va:.4f} nats/byte")


def run(name, seed, build_model, export, load_exported, describe, default_steps, lr, default_out,
        default_seconds=1500):
    """build_model() -> nn.Module (logits [b, l, >=256]); export(model, dir, extra_config);
    load_exported(dir) -> model; describe(model) -> dict of sizes for training.json."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=default_steps)
    ap.add_argument("--time-budget", type=float, default=default_seconds,
                    help="seconds: stop at --steps or after this long, the schedule following the progress")
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--remeasure", metavar="DIR", help="only recompute the final losses of an exported model")
    args = ap.parse_args()
    if args.remeasure:
        common.set_threads()
        return remeasure(name, load_exported, seed, args.remeasure)

    common.seed_all(seed)
    common.set_threads()
    model = build_model().to(common.DEVICE)
    sizes = describe(model)
    print(f"{name}: {json.dumps(sizes)}", flush=True)
    rng = np.random.default_rng(seed)

    def get_batch(step, progress):
        cm = cur_max_pairs(progress)
        return encode_batch([train_example(rng, cm) for _ in range(BATCH)])

    vrng = np.random.default_rng(seed + 1)
    val = [train_example(vrng) for _ in range(64)]

    def evaluate():
        return {"val_value_loss": value_loss(model, val), "acc12_once": accuracy(model, 12, False, 8), "acc12_twice": accuracy(model, 12, True, 8),
                "acc20_once": accuracy(model, 20, False, 8), "acc20_twice": accuracy(model, 20, True, 8)}

    load0 = os.getloadavg()
    t_wall = time.time()
    cpu0 = time.process_time()
    hist, secs = common.train(model, get_batch, args.steps, lr=lr, warmup=100, log_every=100,
                              evaluate=evaluate, eval_every=250, time_budget=args.time_budget,
                              aux_loss=getattr(model, "aux_loss", None))
    cpu_s = time.process_time() - cpu0
    load1 = os.getloadavg()
    model.eval()
    tr_loss, va_loss = final_losses(model, seed)
    print(f"final: value loss train {tr_loss:.4f}, validation {va_loss:.4f} nats/byte (chance ln 10 = 2.303)")
    table = {}
    print(f"accuracy per asked value (PyTorch), {EVAL_EXAMPLES} examples x min({EVAL_ASKED}, pairs) asked keys:")
    print("pairs   once   twice(JRT)")
    for n in EVAL_PAIRS:
        table[str(n)] = {"once": accuracy(model, n, False), "twice": accuracy(model, n, True)}
        print(f"{n:>5}  {table[str(n)]['once']:5.3f}  {table[str(n)]['twice']:5.3f}", flush=True)

    model = model.cpu()
    common.DEVICE = "cpu"
    out = os.path.abspath(args.out)
    export(model, out, {"train_length": TRAIN_LENGTH, "tokenizer": "bytes",
                        "task": TASK})
    re_m = load_exported(out).eval()
    x, _, _ = encode_batch(val[:2])
    with torch.no_grad():
        d = (re_m(x)[..., :256] - model(x)[..., :256]).abs().max().item()
    print(f"export round trip max abs logit diff {d:.2e}")
    assert d < 1e-4
    # a few fixed answers (greedy, teacher-forced) for the runtime test
    fixed = []
    with torch.no_grad():
        for n, i, twice in ((8, 0, False), (8, 0, True), (16, 1, False), (16, 1, True)):
            pairs, asked = eval_example(n, min(EVAL_ASKED, n), i)
            context, answers = build(pairs, asked)
            prefix = context + context if twice else context
            ids = list((prefix + answers).encode("ascii"))
            pred = model(torch.tensor([ids[:-1]]))[0, :, :256].argmax(-1).tolist()
            vp = value_positions(len(prefix), answers)
            fixed.append({"pairs": n, "example": i, "jrt": 2 if twice else 1,
                          "predicted": "".join(chr(pred[pos - 1]) for pos, _k, _v in vp),
                          "expected": "".join(v for _p, _k, v in vp)})
    # logits of the exported model at one position, for the runtime parity test
    pairs, asked = eval_example(8, min(EVAL_ASKED, 8), 0)
    context, answers = build(pairs, asked)
    probe = context + context + answers[:2]          # ends with the first asked key and "="
    with torch.no_grad():
        probe_logits = re_m(torch.tensor([list(probe.encode("ascii"))]))[0, -1, :256].tolist()
    info = {
        "model": name, "task": TASK, **sizes, "seed": seed, "max_steps": args.steps, "time_budget_s": args.time_budget,
        "steps": next((h["stopped_at_step"] for h in hist if "stopped_at_step" in h), args.steps), "batch": BATCH, "lr": lr,
        "train_pairs": [MIN_PAIRS, MAX_PAIRS], "curriculum": {"start_max_pairs": START_PAIRS, "share_of_steps": CURRICULUM},
        "train_max_asked": MAX_ASKED, "train_length": TRAIN_LENGTH, "p_twice": P_TWICE, "other_weight": OTHER_WEIGHT,
        "train_seconds": round(secs), "train_cpu_seconds": round(cpu_s), "threads": torch.get_num_threads(),
        "loadavg_start": load0, "loadavg_end": load1, "wall_clock_start": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t_wall)),
        "final_train_value_loss": tr_loss, "final_val_value_loss": va_loss, "history": hist,
        "accuracy_by_pairs": table,
        "per_example_correct": {str(n): {"once": per_example(model, n, False), "twice": per_example(model, n, True)}
                                for n in (8, 16)}, "eval_examples": EVAL_EXAMPLES, "eval_asked": EVAL_ASKED, "fixed_answers": fixed,
        "logits_probe": {"text": probe, "last_logits": [round(v, 6) for v in probe_logits]},
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
    }
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"wrote {out}")
