#!/usr/bin/env bash
# Generation speed and memory on the seed-format fixture scaled up: N extra
# releases for both `debian` and `centos` (200 gives about 5,000 targets).
# Prints targets/s, wall time and peak memory for about 50, 5,000 and 50,000
# targets. Usage: scripts/bench-generate.sh [RUNS]   (default 5; best run shown)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --quiet
bin=$PWD/target/release/bentoml-docker
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scaled_manifest() { # N
  local n=$1 i
  while IFS= read -r line; do
    if [[ $line == "  centos:" ]]; then
      for ((i = 0; i < n; i++)); do
        printf '    %d:\n      <<: *tmpl_spec\n      templates_dir: templates/debian\n      base_image: debian:buster-slim\n      add_to_tags: "slim%d"\n      cuda_prefix_url: "ubuntu2004"\n' $((1000 + i)) "$i"
      done
    fi
    if [[ $line == "  amazonlinux:" ]]; then
      for ((i = 0; i < n; i++)); do
        printf '    %d:\n      <<: *centos\n      base_image: centos:7\n      add_to_tags: "centos%d"\n' $((1000 + i)) "$((1000 + i))"
      done
    fi
    printf '%s\n' "$line"
  done < tests/fixtures/seed/manifest.yml
}

printf '%8s %10s %12s %10s %12s\n' targets releases "wall (s)" "MiB peak" "targets/s"
for extra in 0 200 2000; do
  repo=$work/repo-$extra
  cp -r tests/fixtures/seed "$repo"
  scaled_manifest "$extra" > "$repo/manifest.yml"
  targets=$("$bin" plan --json -bv 1.0.0 -m "$repo/manifest.yml" | grep -c '"name":')
  best=""
  peak=0
  for ((r = 0; r < runs; r++)); do
    out=$( { /usr/bin/time -f '%e %M' "$bin" -bv 1.0.0 -dm -mf "$repo/manifest.yml" -dd "$repo/generated" >/dev/null; } 2>&1 | tail -1)
    read -r wall kib <<<"$out"
    if [[ -z $best ]] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; fi
    (( kib > peak )) && peak=$kib
  done
  rate=$(awk "BEGIN{ if ($best > 0) printf \"%d\", $targets / $best; else print \"inf\" }")
  printf '%8d %10d %12s %10.1f %12s\n' "$targets" $((5 + 2 * extra)) "$best" "$(awk "BEGIN{print $peak/1024}")" "$rate"
done
