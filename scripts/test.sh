#!/usr/bin/env bash
# The test command: formatting, vet, the race-enabled unit tests of the
# plugin's module, the same for the end-to-end module in e2e/ (which builds
# and runs the real Caddy binary, redis-server and chromium), and a check
# that the built binary carries both modules.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go test -race -count=1 ./...
(
	cd e2e
	go vet ./...
	go test -race -count=1 ./...
)

bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
go build -o "$bindir/caddy" ./xcaddy
modules=$("$bindir/caddy" list-modules)
for m in http.handlers.anonymous_access admin.api.anonymous_access; do
	if ! grep -qx "$m" <<<"$modules"; then
		echo "the built binary lacks module $m" >&2
		exit 1
	fi
done
echo "binary: $("$bindir/caddy" version | head -n1), both modules present"
