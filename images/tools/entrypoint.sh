#!/bin/sh
# Entrypoint of the bento-server images.
#   docker run IMAGE                serve the bento in /bento on $PORT (3000)
#   docker run IMAGE --workers 4    the same, flags passed to `bentoml serve`
#   docker run IMAGE --help         `bentoml serve --help`
#   docker run IMAGE bentoml ...    any other command, run as given
set -e
case "${1:-}" in
    "" | -*) exec bentoml serve /bento --host 0.0.0.0 --port "${PORT:-3000}" "$@" ;;
    *) exec "$@" ;;
esac
