"""Train checkpoints/mamba2-recall: a tiny byte-level Mamba-2 on the recall-v2 key-value recall text
task (recall_task.py), with the context shown once or twice (JRT) at random; on 2 CPU cores.

    /usr/bin/python3 checkpoints/train/train_recall.py          # the shipped model (see its card)

Options: --steps N (upper bound), --time-budget S (default 1500 s), --out DIR (default checkpoints/mamba2-recall).
The shared task / curriculum / scoring / export code is recall_train.py.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import recall_train  # noqa: E402
from mamba2 import Config, Mamba2LM, export, load_exported, self_test  # noqa: E402

SEED = 777
# sized to match checkpoints/mom-recall: about the same parameter count and the same SSM state
# (2 layers x 8 heads x headdim 16 x d_state 12 = 3,072 floats; MoM: 2 x 4 memories x 2 x 16 x 12)
CFG = dict(d_model=64, n_layer=2, vocab_size=256, d_state=12, d_conv=4, expand=2, headdim=16, ngroups=1,
           chunk_size=64, pad_vocab_size_multiple=8)


def describe(model):
    cfg = model.cfg
    ssm = cfg.n_layer * cfg.nheads * cfg.headdim * cfg.d_state
    return {"parameters": sum(p.numel() for p in model.parameters()), "state_elements": cfg.state_elements(),
            "ssm_state_elements": ssm, "conv_state_elements": cfg.state_elements() - ssm}


def main():
    self_test()
    recall_train.run("mamba2-recall", SEED, lambda: Mamba2LM(Config(**CFG)),
                     lambda m, out, extra: export(m, out, extra_config=extra), load_exported, describe,
                     default_steps=20000, lr=3e-3, default_out=os.path.join(HERE, "..", "mamba2-recall"))


if __name__ == "__main__":
    main()
