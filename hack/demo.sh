#!/usr/bin/env bash
# `make demo`: a simulated host + 2 member clusters, the operator, `kubectl fed join`, the
# examples, and what they look like. The fleet and the operator keep running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${DEMO_DIR:-$PWD/.fleet}"
KCFG="$DIR/fleet.kubeconfig"
BIN="$PWD/target/debug"
NS=kube-federation-system

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "error: $*" >&2; exit 1; }

command -v kubectl >/dev/null || fail "kubectl is not installed. Install it from https://kubernetes.io/docs/tasks/tools/ (or your package manager), then run 'make demo' again."
command -v cargo >/dev/null || fail "cargo is not installed. Install Rust from https://rustup.rs, then run 'make demo' again."

"$PWD/hack/demo-stop.sh" >/dev/null 2>&1 || true
mkdir -p "$DIR"

say "Building the binaries"
cargo build --quiet --bins --workspace

say "Starting a simulated fleet: host + cluster1 + cluster2"
nohup "$BIN/kubefed-sim" up --members 2 --kubeconfig "$KCFG" >"$DIR/fleet.log" 2>&1 &
echo $! >"$DIR/fleet.pid"
for _ in $(seq 1 100); do [ -s "$KCFG" ] && break; sleep 0.1; done
[ -s "$KCFG" ] || fail "the simulated fleet did not start; see $DIR/fleet.log"
export KUBECONFIG="$KCFG"
kubectl config get-contexts

say "Starting kubefed-operator against the host"
kubectl --context host create namespace "$NS" >/dev/null
nohup "$BIN/kubefed-operator" run --kubeconfig "$KCFG" --context host \
  --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address 127.0.0.1:0 \
  >"$DIR/operator.log" 2>&1 &
echo $! >"$DIR/operator.pid"
for _ in $(seq 1 100); do
  kubectl --context host get crd federateddeployments.types.kubefed.io >/dev/null 2>&1 && break
  sleep 0.2
done
kubectl --context host wait --for condition=established --timeout=60s \
  crd/federateddeployments.types.kubefed.io crd/kubefedclusters.core.kubefed.io >/dev/null
kubectl --context host get federatedtypeconfigs -n "$NS"

say "Joining the members: kubectl fed join"
export PATH="$BIN:$PATH"
for c in cluster1 cluster2; do
  kubectl fed join "$c" --cluster-context "$c" --host-cluster-context host
done
kubectl --context host wait --for condition=Ready --timeout=60s kubefedclusters --all -n "$NS" >/dev/null
kubectl --context host get kubefedclusters -n "$NS"

say "Applying the examples (kubectl apply -f examples/)"
kubectl --context host apply -f examples/
kubectl --context host wait --for=jsonpath='{.status.aggregate.ready}'=8/8 --timeout=90s \
  federateddeployment/web -n demo >/dev/null \
  || { echo "the federated deployment did not become ready; operator log: $DIR/operator.log" >&2; exit 1; }
kubectl --context host wait --for=jsonpath='{.status.aggregate.ready}'=10/10 --timeout=90s \
  federateddeployment/api -n demo >/dev/null \
  || { echo "the scheduled deployment did not become ready; operator log: $DIR/operator.log" >&2; exit 1; }

say "The result"
kubectl --context host get federateddeployments,federatedservices,federatedconfigmaps -n demo
echo
kubectl fed status federateddeployment/web -n demo --host-cluster-context host
for c in cluster1 cluster2; do
  echo
  echo "--- $c"
  kubectl --context "$c" get deployments,services,configmaps -n demo
done

cat <<MSG

The fleet and the operator keep running. Try:

  export KUBECONFIG=$KCFG PATH=$BIN:\$PATH           # the fleet, and kubectl-fed for 'kubectl fed'
  kubectl get fdeploy -n demo                       # READY and CLUSTERS across members
  kubectl fed status                                # member clusters
  kubectl --context cluster1 scale deploy/web -n demo --replicas=1   # drift: reverted
  $BIN/kubefed-sim fault --kubeconfig $KCFG --cluster cluster2 offline   # and 'online'

Logs: $DIR/operator.log, $DIR/fleet.log. Stop everything with: make demo-stop
MSG
