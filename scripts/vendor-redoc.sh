#!/usr/bin/env bash
# Vendors Redoc's standalone bundle (the /docs renderer) from the npm
# registry: scripts/vendor-redoc.sh [version]. It records the version and
# the file's sha256 in internal/httpapi/docsui/redoc.version, which a test
# checks the embedded copy against.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-2.5.4}
dest=internal/httpapi/docsui
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "redoc@$version" >/dev/null && tar xzf "redoc-$version.tgz")
integrity=$(cd "$tmp" && npm view "redoc@$version" dist.integrity)
cp "$tmp/package/bundles/redoc.standalone.js" "$tmp/package/bundles/redoc.standalone.js.LICENSE.txt" "$dest/"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
sum=$(sha256sum "$dest/redoc.standalone.js" | cut -d' ' -f1)
cat >"$dest/redoc.version" <<VERSION
# The API reference renderer, vendored from the npm registry by
# scripts/vendor-redoc.sh; TestVendoredRedocMatchesChecksum keeps the
# embedded file equal to what this records.
package=redoc
version=$version
file=bundles/redoc.standalone.js
sha256=$sum
integrity=$integrity
VERSION
echo "redoc $version vendored: sha256 $sum"
