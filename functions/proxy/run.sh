#!/bin/sh
# Lambda entry of the OpenAI-compatible proxy: the Lambda Web Adapter (layer, started by
# AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs this, waits for /health on $PORT, then forwards
# each invocation to it as HTTP and streams the response back (AWS_LWA_INVOKE_MODE).
set -eu
cd "${LAMBDA_TASK_ROOT:-$(dirname "$0")/../..}"
exec python3 -m sovgw.cli proxy \
    --host 127.0.0.1 \
    --port "${PORT:-8080}" \
    --config config/proxy.yaml \
    --jurisdiction "$SOVGW_JURISDICTION"
