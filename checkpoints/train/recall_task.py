"""The key-value recall text task "recall-v2" of checkpoints/mamba2-recall and checkpoints/mom-recall.

Exact template (ASCII, one byte = one token):

    context  = " ".join(f"{k}={v}" for k, v in pairs) + "\\nask: " + " ".join(asked_keys) + "\\n"
    answers  = " ".join(f"{k}={v}" for k in asked_keys) + "\\n"
    once     = context + answers                     # the context shown once
    twice    = context + context + answers           # JRT: the same context read twice

- keys: 1 lowercase letter ("q"), all distinct within one example (so at most 26 pairs);
- values: 1 digit ("7"), may repeat;
- asked_keys: a subset of the keys in random order (not the order of the pairs).
Example (evaluation example(6, 3, 0), read once):  "n=3 x=8 o=3 w=8 d=6 a=4\\nask: d w x\\nd=6 w=8 x=8\\n"
The model is scored on each value in `answers`: after "...{k}=" the greedy (argmax) byte must be the
value digit (teacher forcing on the earlier answers; the keys of the answer line are given).

Order matters: when the context is read once, the asked keys come *after* the pairs, so a
recurrent model has to keep every pair in its state.  When it is read twice, the second copy of the
pairs arrives after the ask list, so the model can keep only the pairs that will be asked (the
set-disjointness argument of "Just read twice", Arora et al. 2024).

(recall-v1, the task of the earlier mamba2-recall checkpoint, had 2-letter keys and 2-digit values;
it was not learnable in 30 minutes on 2 CPU cores by the tiny models.)

Evaluation examples (regenerable without an RNG library; core/stream/eval.ts does the same):
    example(n_pairs, n_asked, i) uses the linear congruential generator
        s_0 = 1000003 * (i + 1) + 7919 * n_pairs,   s_{t+1} = (1103515245 * s_t + 12345) mod 2^31
    and draws numbers d = s_{t+1} >> 16 (the high 15 bits; the low bits of this LCG are not random),
    one per draw, in this order:
        keys:   repeat { d -> letter index d mod 26 -> chr(97 + index); skip if already used }
                until n_pairs keys
        values: for each key in order: d mod 10, written as one digit
        asked:  Fisher-Yates over the list [0..n_pairs-1]: for j = n_pairs-1 down to 1:
                swap(j, d mod (j+1)); the asked keys are the first n_asked of the shuffled list
Training examples use the same `example_from` with numpy's generator as the source of draws.
"""

M31 = 2 ** 31
TASK = "recall-v2"
N_KEYS = 26
N_VALUES = 10


class Lcg:
    def __init__(self, seed):
        self.s = seed % M31

    def next(self):
        self.s = (1103515245 * self.s + 12345) % M31
        return self.s

    def draw(self):
        return self.next() >> 16


def build(pairs, asked):
    context = " ".join(f"{k}={v}" for k, v in pairs) + "\nask: " + " ".join(asked) + "\n"
    answers = " ".join(f"{k}={dict(pairs)[k]}" for k in asked) + "\n"
    return context, answers


def example_from(draw, n_pairs, n_asked):
    """draw(): -> non-negative int (uniform over a range much larger than 26). Returns (pairs, asked)."""
    assert 1 <= n_asked <= n_pairs <= N_KEYS, (n_pairs, n_asked)
    keys, used = [], set()
    while len(keys) < n_pairs:
        r = draw() % N_KEYS
        if r in used:
            continue
        used.add(r)
        keys.append(chr(97 + r))
    values = [str(draw() % N_VALUES) for _ in keys]
    order = list(range(n_pairs))
    for j in range(n_pairs - 1, 0, -1):
        r = draw() % (j + 1)
        order[j], order[r] = order[r], order[j]
    asked = [keys[i] for i in order[:n_asked]]
    return list(zip(keys, values)), asked


def eval_example(n_pairs, n_asked, i):
    g = Lcg(1000003 * (i + 1) + 7919 * n_pairs)
    return example_from(g.draw, n_pairs, n_asked)


def value_positions(prefix_len, answers):
    """Byte offsets (in the full text) of the values inside `answers`, which starts at byte
    prefix_len. Returns a list of (value_pos, key, value)."""
    out = []
    pos = prefix_len
    for item in answers.rstrip("\n").split(" "):
        k, v = item.split("=")
        out.append((pos + len(k) + 1, k, v))
        pos += len(item) + 1
    return out


if __name__ == "__main__":
    for args in [(6, 3, 0), (8, 4, 0), (16, 4, 5), (20, 4, 23)]:
        pairs, asked = eval_example(*args)
        c, a = build(pairs, asked)
        print(args, repr(c), repr(a))
