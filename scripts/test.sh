#!/usr/bin/env bash
# The test command: formatting, vet, the example Prometheus alert rules and
# their unit tests, the race-enabled unit tests of the plugin's module, the
# same for the end-to-end module in e2e/ (which builds and runs the real
# Caddy binary, redis-server and chromium), and a check that the built
# binary carries both modules.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...

# The example alert rules and their unit tests. Like the Redis and browser
# tests, they are skipped without promtool, unless CI is set.
if command -v promtool >/dev/null 2>&1; then
	(
		cd examples/prometheus
		promtool check rules anonymous-access.rules.yml
		promtool test rules anonymous-access.test.yml
	)
elif [ -n "${CI:-}" ]; then
	echo "promtool not found, and CI is set: install it (apt-get install prometheus)" >&2
	exit 1
else
	echo "promtool not found: skipping the alert rule tests (apt-get install prometheus)" >&2
fi

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
