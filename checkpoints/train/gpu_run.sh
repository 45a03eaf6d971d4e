#!/bin/bash
# Trains mamba2-passkey and mamba2-recall on a CUDA GPU (both at once), writing to $OUT.
set -e
export TRAIN_DEVICE=cuda PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/../.."
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"
python3 checkpoints/train/train_passkey.py --steps 4000 --max-seconds ${PK_SECONDS:-300} --out $OUT/mamba2-passkey > $OUT/passkey.log 2>&1 &
P1=$!
python3 checkpoints/train/train_recall.py --steps 4000 --time-budget ${RC_SECONDS:-300} --out $OUT/mamba2-recall > $OUT/recall.log 2>&1 &
P2=$!
wait $P1 || echo "passkey failed"
wait $P2 || echo "recall failed"
tail -25 $OUT/passkey.log
tail -20 $OUT/recall.log
