#!/usr/bin/env bash
# Run every test. The builds are nx-cached (seconds when nothing changed); they make sure the
# tests exercise executables built from this very tree, in both configurations.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_NO_CLOUD=true NX_DAEMON=false NX_TUI=false
npx nx run-many -t build --output-style=static
npx nx run-many -t build --configuration=static --output-style=static
npx tsc -p tsconfig.json
npx vitest run
