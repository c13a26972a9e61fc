# The release workflow of the images repo in images/ (edit manifest and
# templates -> generate -> build -> push), and the tool's own packaging.
# `make help` lists the targets.

IMAGES ?= images
BENTOML_VERSION ?=
JOBS ?= 2
# The builder: bake (BuildKit; images/ declares linux/amd64 and linux/arm64,
# which the Docker daemon's classic builder cannot make as one image),
# docker or buildah.
ENGINE ?= bake
PREFIX ?= /usr/local
TOOL_IMAGE ?= bentoml-docker
BIN := target/release/bentoml-docker
VERSION_FLAG := $(if $(BENTOML_VERSION),-b $(BENTOML_VERSION),)

.DEFAULT_GOAL := help
.PHONY: help test install image run list generate check build push status

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN): Cargo.toml Cargo.lock $(shell find src -name '*.rs')
	cargo build --release --locked

test: ## Every test, after setting up what they need where missing (.ci/test: Docker daemon, BuildKit, buildah, registry tools, base image, Jinja2)
	bash .ci/test

install: $(BIN) ## Install the binary, its shell completions and man page under PREFIX
	install -D -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/bentoml-docker
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/man/man1
	$(BIN) completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/bentoml-docker
	$(BIN) completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_bentoml-docker
	$(BIN) man > $(DESTDIR)$(PREFIX)/share/man/man1/bentoml-docker.1

image: ## Build the tool's own image (Dockerfile) as $(TOOL_IMAGE)
	docker build -t $(TOOL_IMAGE) .

run: ## Run the tool's image on $(IMAGES) with the host's Docker socket: make run ARGS="build -j 2"
	docker run --rm -it -v $(abspath $(IMAGES)):/images -v /var/run/docker.sock:/var/run/docker.sock $(TOOL_IMAGE) $(ARGS)

list: ## Built images of the matrix, as a table
	@docker images --filter label=org.bentoml.docker.inputs --format 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'

generate: $(BIN) ## Render $(IMAGES)/generated from the manifest and templates
	$(BIN) generate -m $(IMAGES)/manifest.yml $(VERSION_FLAG) --dump-metadata

check: $(BIN) ## Check that $(IMAGES)/generated is current and its Dockerfiles are sound
	$(BIN) check -m $(IMAGES)/manifest.yml $(VERSION_FLAG)

build: $(BIN) ## Build the images (what changed only) with ENGINE, JOBS at once
	$(BIN) build -m $(IMAGES)/manifest.yml $(VERSION_FLAG) --engine $(ENGINE) --jobs $(JOBS) $(if $(filter docker,$(ENGINE)),--network host,)

push: $(BIN) ## Push the built images to every enabled registry, verified
	$(BIN) push -m $(IMAGES)/manifest.yml $(VERSION_FLAG) --jobs $(JOBS)

status: $(BIN) ## What each registry holds against the plan
	$(BIN) status -m $(IMAGES)/manifest.yml $(VERSION_FLAG)
