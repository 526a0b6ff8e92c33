#!/usr/bin/env bash
# make lint's spec checks, when Node.js (20.19 or later) and npm are here:
# Redocly CLI lints api/openapi.yaml (errors fail, warnings are shown), and
# a TypeScript client generated from it by openapi-typescript must compile
# (tools/apilint/client). The pinned tools install from
# tools/apilint/package-lock.json into tools/apilint/node_modules, once per
# change of the lock file.
set -euo pipefail
cd "$(dirname "$0")/../tools/apilint"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm not found: api/openapi.yaml NOT linted and the TypeScript client NOT compiled (install Node.js 20.19+)"
  exit 0
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "node $(node --version) is older than 20.19: api/openapi.yaml NOT linted and the TypeScript client NOT compiled"
  exit 0
fi

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
stamp=node_modules/.lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "installing the spec tools (tools/apilint/package-lock.json)"
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
echo "redocly lint api/openapi.yaml"
npx --no-install redocly lint --config redocly.yaml --format=summary ../../api/openapi.yaml
echo "openapi-typescript + tsc: the generated TypeScript client compiles"
rm -f client/schema.d.ts
npx --no-install openapi-typescript ../../api/openapi.yaml --output client/schema.d.ts --redocly redocly.yaml
npx --no-install tsc -p client
echo "spec lint: 0 errors; TypeScript client compiles"
