#!/usr/bin/env bash
# Installs what the project needs: pnpm (the version pinned in package.json) and the workspace's
# packages from the lockfile. Node 24 itself comes in as a package (nodejs-runtime), so the
# machine's Node only has to run pnpm.
set -euo pipefail
cd "$(dirname "$0")/../.."

want=$(node -p "require('./package.json').packageManager.split('@')[1]")
have=$(pnpm --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "installing pnpm@$want (found: ${have:-none})"
  npm install --global --no-audit --no-fund "pnpm@$want" >/dev/null
fi

if [ "${CI:-}" = "true" ]; then
  pnpm install --frozen-lockfile
else
  pnpm install --frozen-lockfile --reporter=silent
fi
