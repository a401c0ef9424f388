#!/usr/bin/env bash
# GPU serving benchmark as run on the device machine: random TinyLlama-shaped model, packaging
# of that real-size model directory, then direct vs gateway paths. Needs torch + transformers;
# pydantic and boto3 come as wheels in .whl/ where the machine lacks them. Writes to $OUT.
set -euo pipefail
OUT=${OUT:-.run/gpu}; mkdir -p "$OUT"
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl; fi
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -m benchmarks.serving.random_model --out /tmp/tinyllama-random | tee $OUT/model.json
if [ -z "${SKIP_PACKAGING:-}" ]; then python3 - <<'PY' | tee $OUT/packaging.json
import json, time
from pathlib import Path
from model_serving.packaging import build_archive, verify_archive
t=time.perf_counter(); m,d=build_archive(Path('/tmp/tinyllama-random'),'tinyllama-random',Path('/tmp/art/model.tar.gz')); t1=time.perf_counter()
verify_archive(Path('/tmp/art/model.tar.gz')); t2=time.perf_counter()
print(json.dumps({"files":[f.path for f in m.files],"bytes":m.total_bytes,"sha256":d,"build_s":round(t1-t,1),"verify_s":round(t2-t1,1)}))
PY
fi
python3 -m benchmarks.serving --backend transformers --model-dir /tmp/tinyllama-random --concurrency "${CONCURRENCY:-1,8,32}" --requests-per-worker "${REQUESTS_PER_WORKER:-1}" --max-tokens "${MAX_TOKENS:-32}" --prompt-words 128 --output $OUT/gpu-serving.json > /dev/null
python3 -c "
import json; r=json.load(open('$OUT/gpu-serving.json'))
for l in r['levels']:
    print(l['concurrency'], {k:(v['requests_per_s'],v['tokens_per_s'],v['ttft_p50_ms'],v['ttft_p99_ms'],v['errors']) for k,v in l.items() if isinstance(v,dict) and 'path' in v}, l['ratios_vs_direct'])"
