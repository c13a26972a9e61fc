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
# Under target/, not /tmp: on some machines /tmp is far slower at creating
# files, which would measure the file system instead of the tool.
work=$PWD/target/bench
rm -rf "$work" && mkdir -p "$work"
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

# time_run DIR OUT -> "wall_seconds peak_kib" of one generation into DIR/OUT,
# with metadata.json (written in DIR, as the original wrote it in the
# current directory)
time_run() {
  (cd "$1" && { /usr/bin/time -f '%e %M' "$bin" -bv 1.0.0 -dm -mf manifest.yml -dd "$2" >/dev/null; } 2>&1 | tail -1)
}

# best_of RUNS DIR FRESH -> "best_wall max_peak"; FRESH=1 generates into a
# new directory each run. Nothing is deleted while measuring: ext4 skips
# inodes freed in the last ~30 s when it allocates new ones, which makes
# creating files right after deleting thousands of them several times
# slower; that would measure the previous run's clean-up, not the tool.
best_of() {
  local best="" peak=0 wall kib r out=generated
  # A no-op run needs the output there first: one run, not measured.
  [[ $3 == 0 ]] && time_run "$2" "$out" >/dev/null
  for ((r = 0; r < $1; r++)); do
    [[ $3 == 1 ]] && out=fresh-$r
    read -r wall kib <<<"$(time_run "$2" "$out")"
    if [[ -z $best ]] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; fi
    ((kib > peak)) && peak=$kib
  done
  echo "$best $peak"
}

shm=""
[[ -d /dev/shm && -w /dev/shm ]] && shm=$(mktemp -d /dev/shm/bentoml-docker-bench.XXXX)
[[ -n $shm ]] && trap 'rm -rf "$work" "$shm"' EXIT

echo "fresh: generated/ and metadata.json written from nothing; no-op: rerun with nothing changed"
echo "(run it a minute after deleting many files, e.g. an earlier run of this script: see best_of)"
echo "(tmpfs: the fresh run in memory, which separates the tool's cost from the disk's)"
printf '%8s %9s | %10s %10s %9s | %10s | %10s\n' targets releases "fresh (s)" targets/s "MiB peak" "no-op (s)" "tmpfs (s)"
for extra in 0 200 2000; do
  repo=$work/repo-$extra
  cp -r tests/fixtures/seed "$repo"
  scaled_manifest "$extra" > "$repo/manifest.yml"
  targets=$("$bin" plan --json -bv 1.0.0 -m "$repo/manifest.yml" | grep -c '"name":')
  read -r fresh peak <<<"$(best_of "$runs" "$repo" 1)"
  read -r noop _ <<<"$(best_of "$runs" "$repo" 0)"
  memory="-"
  if [[ -n $shm ]]; then
    cp -r tests/fixtures/seed "$shm/repo-$extra" && cp "$repo/manifest.yml" "$shm/repo-$extra/"
    rm -rf "$shm/repo-$extra/generated"
    read -r memory _ <<<"$(best_of "$runs" "$shm/repo-$extra" 1)"
  fi
  rate=$(awk "BEGIN{ if ($fresh > 0) printf \"%d\", $targets / $fresh; else print \"-\" }")
  printf '%8d %9d | %10s %10s %9.1f | %10s | %10s\n' "$targets" $((5 + 2 * extra)) "$fresh" "$rate" \
    "$(awk "BEGIN{print $peak/1024}")" "$noop" "$memory"
done
