#!/usr/bin/env bash
# Build speed on the build fixture (tests/fixtures/build: 2 bases, 2 runtime,
# 2 devel images; bases install Python over the network): wall time of a
# full build with --jobs 1 and --jobs 2, and of the no-op rebuild.
# Needs a Docker daemon with debian:bookworm-slim (.ci/setup-docker).
# Usage: scripts/bench-build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/bentoml-docker
work=$PWD/target/bench-build
rm -rf "$work" && cp -r tests/fixtures/build "$work"
trap 'rm -rf "$work"' EXIT
sed -i 's/^  app:$/  bdbench:/' "$work/manifest.yml"

remove_images() {
  docker images --format '{{.Repository}}:{{.Tag}}' bdbench | xargs -r docker rmi -f >/dev/null
  docker builder prune -f >/dev/null 2>&1 || true
}

timed() { # ARGS... -> seconds
  local start end
  start=$(date +%s.%N)
  "$bin" build -m "$work/manifest.yml" --network host "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  awk "BEGIN{printf \"%.1f\", $end - $start}"
}

remove_images
one=$(timed --jobs 1)
remove_images
two=$(timed --jobs 2)
noop=$(timed --jobs 2)
remove_images
printf '%-28s %8s\n' "full build, --jobs 1" "$one s"
printf '%-28s %8s\n' "full build, --jobs 2" "$two s"
printf '%-28s %8s\n' "no-op rebuild (6 images)" "$noop s"
