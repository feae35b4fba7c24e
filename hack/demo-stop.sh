#!/usr/bin/env bash
# Stops what `make demo` started.
set -u
cd "$(dirname "$0")/.."
DIR="${DEMO_DIR:-$PWD/.fleet}"
for p in operator fleet; do
  if [ -f "$DIR/$p.pid" ]; then
    kill "$(cat "$DIR/$p.pid")" 2>/dev/null && echo "stopped $p"
    rm -f "$DIR/$p.pid"
  fi
done
rm -f "$DIR/fleet.kubeconfig" "$DIR/fleet.kubeconfig.admin"
