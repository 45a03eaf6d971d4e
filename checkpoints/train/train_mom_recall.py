"""Train checkpoints/mom-recall: a tiny byte-level Mixture-of-Memories model (gated delta-rule
memories, mom.py, the function of scanstream's core/models/mom.ts) on the recall-v2 key-value recall
text task (recall_task.py), context shown once or twice at random; on 2 CPU cores. Same data,
curriculum, seed, loss and scoring as train_recall.py (Mamba-2), through recall_train.py.

    /usr/bin/python3 checkpoints/train/train_mom_recall.py      # the shipped model (see its card)

Options: --steps N (upper bound), --time-budget S (default 1500 s), --out DIR (default checkpoints/mom-recall).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import recall_train  # noqa: E402
from mom import MomConfig, MomLM, export, load_exported, n_params, self_test  # noqa: E402

SEED = 777
# 3 routed memories (top-2) + 1 shared memory, 2 heads, d_k 16, d_v 12: SSM state 2 layers x 4 x 2 x 16 x 12
# = 3,072 floats (the same as mamba2-recall's); MLP width 32 brings the parameters to about Mamba-2's
CFG = dict(d_model=64, n_layer=2, vocab_size=256, num_heads=2, head_dim=16, expand_v=0.75, num_memories=3,
           topk=2, shared_mem=True, conv_size=4, intermediate_size=32, norm_eps=1e-6, chunk_size=32)


def describe(model):
    cfg = model.cfg
    return {"parameters": n_params(model), "state_elements": cfg.state_elements(),
            "ssm_state_elements": cfg.ssm_state_elements(),
            "conv_state_elements": cfg.state_elements() - cfg.ssm_state_elements()}


def main():
    self_test()
    recall_train.run("mom-recall", SEED, lambda: MomLM(MomConfig(**CFG)),
                     lambda m, out, extra: export(m, out, {"max_position_embeddings": extra["train_length"], **extra}),
                     load_exported, describe,
                     default_steps=20000, lr=3e-3, default_out=os.path.join(HERE, "..", "mom-recall"))


if __name__ == "__main__":
    main()
