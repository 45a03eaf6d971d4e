"""The passkey-retrieval task of checkpoints/mamba2-passkey (byte-level text).

Exact template (every string below is ASCII; one byte = one token):

    prompt = FILLER * k_before + NEEDLE(key) + FILLER * k_after + QUESTION
    answer = " " + key                         (6 bytes: a space and 5 digits)

Given a nominal context length L (bytes) and a depth d in [0, 1]:
    n        = max(0, round((L - len(NEEDLE) - len(QUESTION)) / len(FILLER)))
    k_before = round(d * n)      (Python round: halves go to the even integer)
    k_after  = n - k_before
so the prompt length is within 45 bytes of L (for L >= 96) and depth 0 puts the needle at the
very start, depth 1 right before the question.  (The InfiniteBench / Stuffed Mamba prompt also has
an instruction prefix; it is left out here to keep the training sequences short.)

Evaluation keys (no RNG needed to regenerate them):
    key(i) = str(10000 + (i * 7919 + 12345) % 90000)      i = 0, 1, 2, ...
"""

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
NEEDLE = "The pass key is {key}. Remember it. {key} is the pass key. "
QUESTION = "What is the pass key? The pass key is"

NEEDLE_LEN = len(NEEDLE.format(key="00000"))


def eval_key(i):
    return str(10000 + (i * 7919 + 12345) % 90000)


def n_fillers(length):
    return max(0, round((length - NEEDLE_LEN - len(QUESTION)) / len(FILLER)))


def make_prompt(length, depth, key):
    """-> (prompt, answer) strings."""
    assert len(key) == 5 and key.isdigit()
    n = n_fillers(length)
    kb = round(depth * n)
    prompt = FILLER * kb + NEEDLE.format(key=key) + FILLER * (n - kb) + QUESTION
    return prompt, " " + key


if __name__ == "__main__":
    p, a = make_prompt(512, 0.5, eval_key(0))
    print(repr(p), repr(a), len(p))
