# syntax=docker/dockerfile:1
# bentoml-docker in a small image with the Docker CLI: mount an images repo
# at /images and the host's Docker socket to generate, build and push
# (`make image` builds it, `make run` runs it; scripts/tool-image.sh builds
# and checks it, also where Docker Hub cannot be reached).
#
# The images it starts from are build arguments, so a mirror or a local
# copy can stand in for Docker Hub.
ARG RUST_IMAGE=rust:1.89-slim-bookworm
ARG DOCKER_CLI_IMAGE=docker:27.5-cli
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${DOCKER_CLI_IMAGE} AS docker-cli

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/integration \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs tests/integration/main.rs \
    && cargo build --release --locked --bin bentoml-docker \
    && rm -rf src
COPY src src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin bentoml-docker \
    && strip target/release/bentoml-docker \
    && target/release/bentoml-docker completions bash > bentoml-docker.bash \
    && target/release/bentoml-docker man > bentoml-docker.1

FROM ${BASE_IMAGE}
RUN apt-get update -q \
    && apt-get install -q -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=build /src/target/release/bentoml-docker /usr/local/bin/bentoml-docker
COPY --from=build /src/bentoml-docker.bash /usr/share/bash-completion/completions/bentoml-docker
COPY --from=build /src/bentoml-docker.1 /usr/share/man/man1/bentoml-docker.1
WORKDIR /images
ENTRYPOINT ["bentoml-docker"]
CMD ["--help"]
