# kubefed-rs developer entry points. `make test` is what CI runs.

CARGO ?= cargo
IMG ?= kubefed-operator:latest
KUBECONFIG_OUT ?= $(CURDIR)/.fleet/fleet.kubeconfig

.PHONY: all build test fmt fmt-check clippy unit manifests demo demo-stop deploy toolchain help

all: build

help: ## Show the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

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

manifests: toolchain ## Regenerate config/crd from the code
	$(CARGO) run --quiet --bin kubefed-operator -- crds --output-dir config/crd

demo: toolchain ## Simulated host + 2 members, the operator, kubectl fed join, the examples; left running
	@hack/demo.sh

demo-stop: ## Stop what make demo started
	@hack/demo-stop.sh

deploy: ## Print the install manifests with IMG as the operator image (pipe into kubectl apply -f -)
	@cat config/crd/*.yaml; echo '---'; cat config/rbac/*.yaml; echo '---'; sed 's|image: kubefed-operator:latest|image: $(IMG)|' config/manager/*.yaml
