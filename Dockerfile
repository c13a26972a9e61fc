# syntax=docker/dockerfile:1
# bentoml-docker in a small image with the Docker CLI: mount an images repo
# at /images and the host's Docker socket to generate, build and push
# (`make install` builds it, `make run` runs it).
ARG RUST_VERSION=1.88
ARG DOCKER_VERSION=27.5

FROM docker:${DOCKER_VERSION}-cli AS docker-cli

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && strip target/release/bentoml-docker \
    && target/release/bentoml-docker completions bash > bentoml-docker.bash \
    && target/release/bentoml-docker man > bentoml-docker.1

FROM debian:bookworm-slim
RUN apt-get update -q \
    && apt-get install -q -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/*
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=build /src/target/release/bentoml-docker /usr/local/bin/bentoml-docker
COPY --from=build /src/bentoml-docker.bash /usr/share/bash-completion/completions/bentoml-docker
COPY --from=build /src/bentoml-docker.1 /usr/share/man/man1/bentoml-docker.1
WORKDIR /images
ENTRYPOINT ["bentoml-docker"]
CMD ["--help"]
