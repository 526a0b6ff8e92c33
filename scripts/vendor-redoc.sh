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
upstream=$(sha256sum "$tmp/package/bundles/redoc.standalone.js" | cut -d' ' -f1)
# The one change to the bundle: its sidebar footer shows a logo fetched
# from Redocly's CDN; the page must load nothing from another host, so the
# address becomes an empty data: URL (the logo's onError then hides it).
logo='src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
if [[ $(grep -o "$logo" "$tmp/package/bundles/redoc.standalone.js" | wc -l) != 1 ]]; then
  echo "redoc $version: the CDN logo address to replace was not found exactly once; check the bundle by hand" >&2
  exit 1
fi
sed "s|$logo|src:\"data:,\"|" "$tmp/package/bundles/redoc.standalone.js" >"$dest/redoc.standalone.js"
if grep -q "cdn.redoc.ly" "$dest/redoc.standalone.js"; then
  echo "redoc $version: the bundle still names cdn.redoc.ly" >&2
  exit 1
fi
cp "$tmp/package/bundles/redoc.standalone.js.LICENSE.txt" "$dest/"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
sum=$(sha256sum "$dest/redoc.standalone.js" | cut -d' ' -f1)
cat >"$dest/redoc.version" <<VERSION
# The API reference renderer, vendored from the npm registry by
# scripts/vendor-redoc.sh; TestVendoredRedocMatchesChecksum keeps the
# embedded file equal to what this records.
package=redoc
version=$version
file=bundles/redoc.standalone.js
# sha256 of the npm package's file, and of the embedded copy (the footer
# logo's CDN address replaced by an empty data: URL; nothing else changed).
upstream_sha256=$upstream
sha256=$sum
integrity=$integrity
VERSION
echo "redoc $version vendored: sha256 $sum"
