#!/bin/sh
# Serves the bento in /bento on $PORT (default 3000); any arguments are
# passed to `bentoml` instead.
set -e
if [ "$#" -gt 0 ]; then
    exec bentoml "$@"
fi
exec bentoml serve /bento --port "${PORT:-3000}"
