"""Shared training loop for the scanstream tiny checkpoints (CPU, PyTorch >= 1.13)."""
import os

# OpenMP threads that spin while waiting are very slow on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import math  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


DEVICE = os.environ.get("TRAIN_DEVICE", "cpu")   # "cuda" to train on a GPU


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads():
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))


def make_optimizer(model, lr, weight_decay=0.1):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim >= 2 and "embedding" not in name and "conv1d" not in name:
            decay.append(p)
        else:
            no_decay.append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    prog = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def masked_ce(logits, targets, mask=None):
    """logits [b, l, v], targets [b, l] int64, mask [b, l] float (1 = counts) or None."""
    v = logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1), reduction="none")
    if mask is None:
        return ce.mean()
    m = mask.reshape(-1)
    return (ce * m).sum() / m.sum().clamp(min=1)


def train(model, get_batch, steps, lr, warmup, log_every, evaluate=None, eval_every=None,
          clip=1.0, label="", max_seconds=None, aux_loss=None, time_budget=None):
    """get_batch(step) -> (inputs [b,l], targets [b,l], mask or None). Returns history.
    max_seconds: safety stop (the run then reports fewer steps than asked).
    aux_loss: optional callable -> scalar added to the loss after each forward (MoM load balancing).
    time_budget: seconds; then the run ends at `steps` steps or after time_budget seconds, whichever
    comes first, and the schedule follows progress = max(step / steps, elapsed / time_budget): the
    cosine reaches its end either way, and get_batch(step, progress) is called (for a curriculum)."""
    opt = make_optimizer(model, lr)
    hist = []
    t0 = time.time()
    run = 0.0
    for step in range(steps):
        if time_budget is not None:
            prog = max(step / steps, (time.time() - t0) / time_budget)
            if prog >= 1.0:
                print(f"{label}time budget reached after {step} steps", flush=True)
                hist.append({"stopped_at_step": step})
                break
            cur = peak = lr
            if step < warmup:
                cur = peak * (step + 1) / warmup
            else:
                cur = peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))
            for g in opt.param_groups:
                g["lr"] = cur
            x, y, m = get_batch(step, prog)
        else:
            for g in opt.param_groups:
                g["lr"] = lr_at(step, steps, lr, warmup)
            x, y, m = get_batch(step)
        x, y = x.to(DEVICE), y.to(DEVICE)
        m = None if m is None else m.to(DEVICE)
        loss = masked_ce(model(x), y, m)
        if aux_loss is not None:
            loss = loss + aux_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        run = loss.item() if step == 0 else 0.95 * run + 0.05 * loss.item()
        if (step + 1) % log_every == 0 or step == steps - 1:
            el = time.time() - t0
            print(f"{label}step {step + 1}/{steps}  train loss {loss.item():.4f} (ema {run:.4f})  "
                  f"lr {opt.param_groups[0]['lr']:.2e}  {el:.0f}s", flush=True)
        if evaluate is not None and eval_every and ((step + 1) % eval_every == 0 or step == steps - 1):
            model.eval()
            with torch.no_grad():
                ev = evaluate()
            model.train()
            ev["step"] = step + 1
            ev["train_loss_ema"] = run
            hist.append(ev)
            print(f"{label}eval @ {step + 1}: " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                            for k, v in ev.items()), flush=True)
        if max_seconds is not None and time.time() - t0 > max_seconds:
            print(f"{label}stopped by the time limit after {step + 1} steps", flush=True)
            hist.append({"stopped_at_step": step + 1})
            break
    return hist, time.time() - t0


def encode_batch(examples, other_weight, mark):
    """examples: [(prompt, answer)] -> inputs x, targets y, loss weights w ([B, T], right-padded with
    weight 0). Every real target weighs `other_weight`; mark(w_row, prompt, answer, n) then raises the
    weights of the targets the task is about (n = targets in this row)."""
    seqs = [list((p + a).encode("ascii")) for p, a in examples]
    T = max(len(s) for s in seqs) - 1
    x = torch.zeros(len(seqs), T, dtype=torch.int64)
    y = torch.zeros(len(seqs), T, dtype=torch.int64)
    w = torch.zeros(len(seqs), T)
    for i, ((p, a), s) in enumerate(zip(examples, seqs)):
        n = len(s) - 1
        x[i, :n] = torch.tensor(s[:-1])
        y[i, :n] = torch.tensor(s[1:])
        w[i, :n] = other_weight
        mark(w[i], p, a, n)
    return x, y, w
