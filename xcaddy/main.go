// Command xcaddy is a Caddy build that includes the anonymous_access plugin,
// laid out like the main package that xcaddy generates.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/anonaccess/caddy-anonymous-access/caddymodule"
)

func main() {
	caddycmd.Main()
}
