"""The multi-query associative recall (MQAR) text task of checkpoints/mamba2-recall.

Exact template (ASCII, one byte = one token):

    context  = " ".join(f"{k}={v}" for k, v in pairs) + "\\nask: " + " ".join(asked_keys) + "\\n"
    answers  = " ".join(f"{k}={v}" for k in asked_keys) + "\\n"
    once     = context + answers                     # the context shown once
    twice    = context + context + answers           # JRT: the same context read twice

- keys: 2 lowercase letters ("qx"), all distinct within one example;
- values: 2 digits ("07"), may repeat;
- asked_keys: a subset of the keys in random order (not the order of the pairs).
The model is scored on each value in `answers`: after "...{k}=" it must produce the 2 digits of
that key's value (greedy; teacher forcing on the earlier answers).

Order matters: when the context is read once, the asked keys come *after* the pairs, so a
recurrent model has to keep every pair in its state.  When it is read twice, the second copy of the
pairs arrives after the ask list, so the model can keep only the pairs that will be asked (the
set-disjointness argument of "Just read twice", Arora et al. 2024).

Evaluation examples (regenerable without an RNG library):
    example(n_pairs, n_asked, i) uses the linear congruential generator
        s_0 = 1000003 * (i + 1) + 7919 * n_pairs,   s_{t+1} = (1103515245 * s_t + 12345) mod 2^31
    drawing numbers r = s_{t+1} (one per draw, in this order):
        keys:   repeat { r -> key index r mod 676 = 26*a + b -> chr(97+a) + chr(97+b);
                         skip if already used } until n_pairs keys
        values: for each key in order: r mod 100, written with 2 digits
        asked:  Fisher-Yates over the list [0..n_pairs-1]: for j = n_pairs-1 down to 1:
                swap(j, r mod (j+1)); the asked keys are the first n_asked of the shuffled list
"""

M31 = 2 ** 31


class Lcg:
    def __init__(self, seed):
        self.s = seed % M31

    def next(self):
        self.s = (1103515245 * self.s + 12345) % M31
        return self.s


def build(pairs, asked):
    context = " ".join(f"{k}={v}" for k, v in pairs) + "\nask: " + " ".join(asked) + "\n"
    answers = " ".join(f"{k}={dict(pairs)[k]}" for k in asked) + "\n"
    return context, answers


def example_from(draw, n_pairs, n_asked):
    """draw(): -> non-negative int. Returns (pairs, asked)."""
    keys, used = [], set()
    while len(keys) < n_pairs:
        r = draw() % 676
        if r in used:
            continue
        used.add(r)
        keys.append(chr(97 + r // 26) + chr(97 + r % 26))
    values = [f"{draw() % 100:02d}" for _ in keys]
    order = list(range(n_pairs))
    for j in range(n_pairs - 1, 0, -1):
        r = draw() % (j + 1)
        order[j], order[r] = order[r], order[j]
    asked = [keys[i] for i in order[:n_asked]]
    return list(zip(keys, values)), asked


def eval_example(n_pairs, n_asked, i):
    g = Lcg(1000003 * (i + 1) + 7919 * n_pairs)
    return example_from(g.next, n_pairs, n_asked)


def value_positions(prefix_len, answers):
    """Byte offsets (in the full text) of the value digits inside `answers`,
    which starts at byte prefix_len. Returns a list of (first_digit_pos, key)."""
    out = []
    pos = prefix_len
    for item in answers.rstrip("\n").split(" "):
        k, v = item.split("=")
        out.append((pos + len(k) + 1, k))
        pos += len(item) + 1
    return out


if __name__ == "__main__":
    pairs, asked = eval_example(8, 4, 0)
    c, a = build(pairs, asked)
    print(repr(c + a))
    print(repr(c + c + a))
