#!/usr/bin/env bash
# Builds the tool's own image from ./Dockerfile and checks it: it runs, it
# reports its version, its Docker CLI answers, and it checks the images
# repo shipped here (mounted at /images, as `make run` mounts it).
#
#   scripts/tool-image.sh            # from Docker Hub's rust, docker and debian images
#   STANDINS=1 scripts/tool-image.sh # where no container registry can be reached
#
# With STANDINS=1 the Dockerfile's base images are replaced, through its
# build arguments, by local images made from debian:bookworm-slim (which
# must exist, e.g. from .ci/setup-docker):
#   - a Rust toolchain installed by rustup-init from static.rust-lang.org
#     with the minimal profile, gcc and libc6-dev: what the official
#     rust:*-slim-bookworm image holds;
#   - the docker CLI of this machine at /usr/local/bin/docker, where the
#     official docker:*-cli image has it.
# The Rust stand-in trusts this machine's CA bundle (HOST_CA, default
# /etc/ssl/certs/ca-certificates.crt) for rustup and cargo, so that a
# network that intercepts TLS with its own CA works as it does on the host.
# Needs a Docker daemon; builds use the host network.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${TOOL_IMAGE:-bentoml-docker:dev}
rust_version=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
args=()
if [[ ${STANDINS:-0} == 1 ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp "${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}" "$work/host-ca.crt"
  cat >"$work/rust.Dockerfile" <<DOCKERFILE
FROM debian:bookworm-slim
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:\$PATH \\
    SSL_CERT_FILE=/etc/ssl/host-ca.crt CARGO_HTTP_CAINFO=/etc/ssl/host-ca.crt
COPY host-ca.crt /etc/ssl/host-ca.crt
RUN apt-get update -q \\
    && apt-get install -q -y --no-install-recommends ca-certificates curl gcc libc6-dev \\
    && curl -sSf --cacert /etc/ssl/host-ca.crt -o /tmp/rustup-init https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init \\
    && chmod +x /tmp/rustup-init \\
    && /tmp/rustup-init -y -q --no-modify-path --profile minimal --default-toolchain $rust_version \\
    && rm -rf /tmp/rustup-init /var/lib/apt/lists/*
DOCKERFILE
  echo "== stand-in for rust:$rust_version-slim-bookworm"
  docker build -q --force-rm --network host -t "bentoml-docker-standin/rust:$rust_version" -f "$work/rust.Dockerfile" "$work"
  cp "$(command -v docker)" "$work/docker"
  printf 'FROM debian:bookworm-slim\nCOPY docker /usr/local/bin/docker\n' >"$work/cli.Dockerfile"
  echo "== stand-in for docker:cli"
  docker build -q --force-rm -t bentoml-docker-standin/docker:cli -f "$work/cli.Dockerfile" "$work"
  args=(--build-arg "RUST_IMAGE=bentoml-docker-standin/rust:$rust_version"
    --build-arg DOCKER_CLI_IMAGE=bentoml-docker-standin/docker:cli)
fi
echo "== $tag"
started=$SECONDS
docker build --force-rm --network host -t "$tag" "${args[@]}" .
echo "built in $((SECONDS - started)) s; $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}')"
run() { docker run --rm --network none "$@"; }
version=$(run "$tag" --version)
[[ $version == "bentoml-docker $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml)" ]] || { echo "unexpected version: $version"; exit 1; }
run --entrypoint docker "$tag" --version
run "$tag" --help | sed -n 1,3p  # sed reads it all: no broken pipe
run -v "$PWD/images:/images:ro" "$tag" check
echo "tool image OK: $version"
