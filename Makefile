# kubefed-rs developer entry points. `make test` is what CI runs.

CARGO ?= cargo
KUBECTL ?= kubectl
# The operator image `make image` builds and `make deploy` installs. The default is the name
# config/manager/deployment.yaml carries.
IMG ?= kubefed-operator:latest
# docker or podman, whichever is installed (docker first); set it to choose.
CONTAINER_TOOL ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
KUBECONFIG_OUT ?= $(CURDIR)/.fleet/fleet.kubeconfig

# A failing command anywhere in a pipe fails the recipe (`make deploy` pipes kubectl into kubectl).
SHELL := bash
.SHELLFLAGS := -o pipefail -c

.PHONY: all build test fmt fmt-check clippy unit manifests e2e-real demo demo-stop image deploy deploy-yaml toolchain help

all: build

help: ## Show the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

toolchain: ## Install the Rust components the checks need (rustfmt, clippy)
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found; install Rust from rustup.rs"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

build: toolchain ## Build every binary of the workspace
	$(CARGO) build --workspace --bins

fmt: toolchain ## Format the code
	$(CARGO) fmt --all

fmt-check: toolchain
	$(CARGO) fmt --all -- --check

clippy: toolchain
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: toolchain
	$(CARGO) test --workspace

test: fmt-check clippy unit ## Format check, clippy with -D warnings, and every test of the workspace
	$(CARGO) run -q -p kubefed-e2e --bin fedbench -- --smoke

manifests: toolchain ## Regenerate config/crd (and its kustomization) from the code
	$(CARGO) run --quiet --bin kubefed-operator -- crds --output-dir config/crd
	hack/crd-kustomization.sh

e2e-real: toolchain ## e2e on the real clusters of KUBEFED_E2E_KUBECONFIG: the push-only fleet, then the mixed push + pull fleet
	@test -n "$$KUBEFED_E2E_KUBECONFIG" || { echo "set KUBEFED_E2E_KUBECONFIG (and KUBEFED_E2E_HOST, KUBEFED_E2E_MEMBERS); see README"; exit 2; }
	$(CARGO) build --workspace --bins
	KUBEFED_E2E_FLEET=push $(CARGO) test -p kubefed-e2e -- --skip mixed::
	KUBEFED_E2E_FLEET=mixed $(CARGO) test -p kubefed-e2e mixed::

demo: toolchain ## Simulated host + 2 members, the operator, kubectl fed join, the examples; left running
	@hack/demo.sh

demo-stop: ## Stop what make demo started
	@hack/demo-stop.sh

image: ## Build the operator image IMG (docker or podman; CONTAINER_TOOL=... to choose)
	@if [ -z "$(CONTAINER_TOOL)" ]; then \
	  echo "error: make image needs docker or podman, and neither is on PATH; install one (or set CONTAINER_TOOL=<path>)" >&2; exit 1; fi
	@$(CONTAINER_TOOL) info >/dev/null 2>&1 || { \
	  echo "error: $(CONTAINER_TOOL) is installed but cannot build: '$(CONTAINER_TOOL) info' fails (is the daemon or service running?)" >&2; exit 1; }
	DOCKER_BUILDKIT=1 $(CONTAINER_TOOL) build -f Dockerfile -t $(IMG) .

deploy: ## Install namespace, CRDs, RBAC and the operator (image IMG) on kubectl's current context, in one apply
	$(KUBECTL) kustomize config/default | sed 's|image: kubefed-operator:latest|image: $(IMG)|' | $(KUBECTL) apply -f -

deploy-yaml: ## Print what make deploy applies
	@$(KUBECTL) kustomize config/default | sed 's|image: kubefed-operator:latest|image: $(IMG)|'
