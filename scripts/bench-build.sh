#!/usr/bin/env bash
# The tool's own cost in a build: the benchmark images repo
# (tests/fixtures/bench-build: 2 bases, 2 runtime, 2 devel images, a few
# ENV/RUN/COPY steps each, no network) built cold by bentoml-docker and, in
# the same run, its generated Dockerfiles built cold by plain `docker build`
# (classic builder, as the tool's Engine API builds) with the same tags,
# build arguments, dependency order and parallelism. Prints the median wall
# time of each, their ratio, and the no-op rerun (everything up to date).
#
# Then the same images repo built by each engine side by side: the Docker
# daemon's classic builder (`--engine docker`), buildah (`--engine buildah`,
# vfs storage) and BuildKit's bake (`--engine bake`, on the daemon of
# .ci/setup-buildkit), each cold (its images and build cache removed) and
# as a no-op rerun. An engine that is not set up here is skipped, saying so.
#
# Needs a Docker daemon with debian:bookworm-slim (.ci/setup-docker); for
# bake, .ci/setup-buildkit; for buildah, buildah with that image
# (`buildah --storage-driver vfs pull docker-daemon:debian:bookworm-slim`).
# Usage: scripts/bench-build.sh [ROUNDS]    (default 3)
#        BIN=path/to/bentoml-docker scripts/bench-build.sh   (another build)
#        JOBS=2 (builds at once, both sides)
#        ENGINES="docker buildah bake" (the engines compared; "" skips that part)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
jobs=${JOBS:-2}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/bentoml-docker
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
cp -r tests/fixtures/bench-build "$repo"
"$BIN" generate -m "$repo/manifest.yml" >/dev/null
"$BIN" plan -m "$repo/manifest.yml" --json >"$work/plan.json"

remove_images() {
  docker images --format '{{.Repository}}:{{.Tag}}' bdbench | xargs -r docker rmi -f >/dev/null
}

seconds() { # COMMAND... -> wall seconds on stdout; output to $work/last.log
  local start end
  start=$(date +%s.%N)
  if ! "$@" >"$work/last.log" 2>&1; then
    cat "$work/last.log" >&2
    echo "bench-build: failed: $*" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  awk "BEGIN{printf \"%.2f\", $end - $start}"
}

tool() {
  "$BIN" build -m "$repo/manifest.yml" --network host --jobs "$jobs"
}

# The plan's targets with plain `docker build`: a target starts as soon as
# what it is built FROM is done, at most $jobs at once (the tool's policy).
plain() {
  DOCKER_BUILDKIT=0 python3 - "$work/plan.json" "$repo" "$jobs" <<'PY'
import json, subprocess, sys, threading
plan, repo, jobs = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
targets = {t["name"]: t for t in plan["targets"]}
done, started, lock = set(), set(), threading.Condition()
failed = []
def build(t):
    command = ["docker", "build", "-q", "--network", "host", "-t", t["name"],
               "-f", f'{repo}/{t["dockerfile"]}']
    for name, value in t["build_args"].items():
        command += ["--build-arg", f"{name}={value}"]
    result = subprocess.run(command + [repo], capture_output=True, text=True)
    with lock:
        if result.returncode != 0:
            failed.append(t["name"] + ": " + result.stderr)
        done.add(t["name"])
        lock.notify_all()
def ready(t):
    return t["name"] not in started and (t["depends_on"] is None or t["depends_on"] in done)
with lock:
    while len(done) < len(targets) and not failed:
        running = len(started) - len(done)
        waiting = [t for t in plan["targets"] if ready(t)]
        if running < jobs and waiting:
            started.add(waiting[0]["name"])
            threading.Thread(target=build, args=(waiting[0],)).start()
        else:
            lock.wait()
if failed:
    sys.exit("\n".join(failed))
PY
}

median() { sort -n | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Rounds alternate the two sides, and the ratio is taken round by round, so
# that a machine whose speed drifts moves both sides of a ratio alike.
tool_times=() plain_times=() noop_times=() ratios=()
for _ in $(seq "$rounds"); do
  remove_images
  plain=$(seconds plain)
  remove_images
  tool=$(seconds tool)
  plain_times+=("$plain") tool_times+=("$tool")
  ratios+=("$(awk "BEGIN{printf \"%.2f\", $tool / $plain}")")
  noop_times+=("$(seconds tool)")
done
remove_images
tool_s=$(printf '%s\n' "${tool_times[@]}" | median)
plain_s=$(printf '%s\n' "${plain_times[@]}" | median)
noop_s=$(printf '%s\n' "${noop_times[@]}" | median)
ratio=$(printf '%s\n' "${ratios[@]}" | median)
echo "6 images, --jobs $jobs, medians of $rounds rounds (each round: one cold build per side)"
printf '%-34s %8s s   (%s)\n' "plain docker build" "$plain_s" "${plain_times[*]}"
printf '%-34s %8s s   (%s)\n' "bentoml-docker build" "$tool_s" "${tool_times[*]}"
printf '%-34s %8sx   (%s)\n' "ratio (goal: at most 1.1)" "$ratio" "${ratios[*]}"
printf '%-34s %8s s   (%s)\n' "bentoml-docker no-op rerun" "$noop_s" "${noop_times[*]}"

# --- Engines side by side ----------------------------------------------------
engines=${ENGINES-docker buildah bake}
[ -n "$engines" ] || exit 0
buildkit_env=${BUILDKIT_ENV_FILE:-/var/lib/bentoml-docker-ci/buildkit/env}

# Runs "$@" with the environment of engine $1 (bake: the BuildKit daemon).
with_engine() {
  local engine=$1
  shift
  if [ "$engine" = bake ]; then
    (set -a; . "$buildkit_env"; set +a
     PATH=$(dirname "$BUILDKIT_DOCKER"):$PATH DOCKER_HOST=$BUILDKIT_DOCKER_HOST \
       DOCKER_CONFIG=$BUILDKIT_DOCKER_CONFIG "$@")
  else
    "$@"
  fi
}

available() {
  case $1 in
    docker) docker info >/dev/null 2>&1 ;;
    buildah) buildah --storage-driver vfs inspect --type image debian:bookworm-slim >/dev/null 2>&1 ;;
    bake) [ -r "$buildkit_env" ] && with_engine bake docker buildx version >/dev/null 2>&1 ;;
  esac
}

# Removes the engine's images of the benchmark and its build cache: cold.
make_cold() {
  case $1 in
    docker) remove_images ;;
    buildah)
      buildah --storage-driver vfs images --format '{{.Name}}:{{.Tag}}' \
        | { grep '/bdbench:' || true; } | xargs -r buildah --storage-driver vfs rmi -f >/dev/null ;;
    bake)
      with_engine bake sh -c "docker images --format '{{.Repository}}:{{.Tag}}' bdbench \
        | xargs -r docker rmi -f >/dev/null; docker buildx prune -af >/dev/null" ;;
  esac
}

build_with() {
  local engine=$1
  case $engine in
    docker) "$BIN" build -m "$repo/manifest.yml" --network host --jobs "$jobs" ;;
    buildah) STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot \
      "$BIN" build -m "$repo/manifest.yml" --engine buildah --jobs "$jobs" ;;
    bake) with_engine bake "$BIN" build -m "$repo/manifest.yml" --engine bake ;;
  esac
}

echo
echo "engines side by side: 6 images, medians of $rounds rounds (cold: images and build cache removed)"
printf '%-10s %10s %10s   %s\n' ENGINE COLD NO-OP "(cold runs; no-op runs)"
for engine in $engines; do
  if ! available "$engine"; then
    printf '%-10s %10s %10s   %s\n' "$engine" - - "not set up here (see the header)"
    continue
  fi
  cold=() noop=()
  for _ in $(seq "$rounds"); do
    make_cold "$engine"
    cold+=("$(seconds build_with "$engine")")
    noop+=("$(seconds build_with "$engine")")
  done
  make_cold "$engine"
  printf '%-10s %8s s %8s s   (%s; %s)\n' "$engine" \
    "$(printf '%s\n' "${cold[@]}" | median)" "$(printf '%s\n' "${noop[@]}" | median)" \
    "${cold[*]}" "${noop[*]}"
done
