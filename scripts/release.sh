#!/usr/bin/env bash
# Release builds: static binaries (CGO_ENABLED=0) for linux, darwin and windows on
# amd64 and arm64, each archived with the README, LICENSE, CHANGELOG and the default
# gateway.yaml, and a SHA256SUMS file over the archives.
#
#   scripts/release.sh                  # version from `git describe --tags --always`
#   scripts/release.sh v1.2.3           # explicit version
#   PLATFORMS="linux/amd64" scripts/release.sh v1.2.3
#
# Output in dist/: wagate_<version>_<os>_<arch>.tar.gz (.zip for windows when `zip` is
# installed) and SHA256SUMS. Check with: (cd dist && sha256sum -c SHA256SUMS)
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
commit="$(git rev-parse HEAD 2>/dev/null || true)"
date="$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)"
platforms="${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}"
ldflags="-s -w -X main.version=${version} -X main.commit=${commit} -X main.buildDate=${date}"

rm -rf dist
mkdir -p dist
for p in $platforms; do
	os="${p%/*}" arch="${p#*/}"
	name="wagate_${version}_${os}_${arch}"
	dir="dist/${name}"
	mkdir -p "$dir"
	exe=wagate
	[ "$os" = windows ] && exe=wagate.exe
	echo "building ${os}/${arch}" >&2
	CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" GOFLAGS=-buildvcs=false \
		go build -trimpath -ldflags "$ldflags" -o "$dir/$exe" ./cmd/wagate
	cp README.md LICENSE CHANGELOG.md gateway.yaml "$dir/"
	if [ "$os" = windows ] && command -v zip >/dev/null 2>&1; then
		(cd dist && zip -qr "${name}.zip" "$name")
	else
		tar -C dist -czf "dist/${name}.tar.gz" "$name"
	fi
	rm -rf "$dir"
done

cd dist
if command -v sha256sum >/dev/null 2>&1; then
	sha256sum wagate_* > SHA256SUMS
else
	shasum -a 256 wagate_* > SHA256SUMS
fi
cat SHA256SUMS
