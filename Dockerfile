# syntax=docker/dockerfile:1
#
# The kubefed-operator image: `make image IMG=<registry>/kubefed-operator:<tag>`.
#
# Stage 1 builds the workspace's kubefed-operator and kubefed-agent binaries (release, with the
# committed Cargo.lock); pull members run the agent from this same image (`kubectl fed join
# --mode pull --agent-image`). Stage 2 is a distroless runtime (glibc and libgcc only, no shell) running it as
# a non-root user; config/manager/deployment.yaml passes the `run` arguments.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /workspace
COPY . .
# The registry and target caches only speed up rebuilds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/workspace/target \
    cargo build --release --locked --bin kubefed-operator --bin kubefed-agent \
    && install -D -m 0755 target/release/kubefed-operator /out/kubefed-operator \
    && install -D -m 0755 target/release/kubefed-agent /out/kubefed-agent

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/kubefed-operator /usr/local/bin/kubefed-operator
COPY --from=build /out/kubefed-agent /usr/local/bin/kubefed-agent
# Numeric, so that `runAsNonRoot: true` can be verified by the kubelet.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kubefed-operator"]
CMD ["run"]
