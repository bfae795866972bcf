#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go: the GPU tests, the model benchmark on the GPU and
# the end-to-end propose benchmark with decoding workers feeding the GPU.
#
#   AVS_SHARED=../shared bash bench/gpu_checks.sh [OUTDIR]
#
# Needs torch with CUDA and the project's other requirements (PyAV, soundfile, resampy,
# pycocotools); logs go to OUTDIR (default gpu-logs/).
set -u
out=${1:-gpu-logs}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
nvidia-smi -L 2>&1 | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" 2>&1 | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_engine_gpu.py 2>&1 | tee "$out/tests.log"
timeout 200 python3 bench/bench_model_gpu.py ${BENCH_MODEL_ARGS:-} 2>&1 | tee "$out/bench_model_gpu.log"
timeout 170 python3 bench/bench_propose.py s4_resnet50 demo --clips 24 --batches 1 4 8 --workers 8 --device cuda 2>&1 | tee "$out/bench_propose_gpu.log"
