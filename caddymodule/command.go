package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "anonymous-access",
		Usage: "apps|enable|disable|reset-code|link|embed-code|capacity [<app>] [--tenant <id>] [--address <admin>]",
		Short: "Manages anonymous access of a running Caddy",
		Long: `
Talks to the admin API of a running Caddy (localhost:2019 unless --address
or a --config with an admin address says otherwise) to manage anonymous
access, without any tenant permission:

  apps                 list apps as JSON
  enable <app>         turn anonymous access on
  disable <app>        turn it off: every live session of the app ends
  reset-code <app>     new access code: every old link, embed code and
                       live session stops working
  link <app>           print the app link (one line)
  embed-code <app>     print the embed code (an iframe snippet)
  capacity             capacity, active sessions and peak as JSON

--tenant picks the tenant when several are running.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("tenant", "", "Tenant id, when several are running")
			cmd.Flags().String("address", "", "Address of the admin API")
			cmd.Flags().StringP("config", "c", "", "Configuration file to read the admin address from")
			cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
			cmd.Flags().String("object", "", "embed-code: a path inside the app's scope to show")
			cmd.Flags().String("width", "", "embed-code: iframe width (pixels or percent)")
			cmd.Flags().String("height", "", "embed-code: iframe height (pixels or percent)")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(cmdAnonymousAccess)
		},
	})
}

func cmdAnonymousAccess(fl caddycmd.Flags) (int, error) {
	args := fl.Args()
	if len(args) == 0 {
		return caddy1, errors.New("a verb is required: apps, enable, disable, reset-code, link, embed-code or capacity")
	}
	verb := args[0]
	needsApp := verb != "apps" && verb != "capacity"
	if needsApp && len(args) != 2 || !needsApp && len(args) != 1 {
		if needsApp {
			return caddy1, fmt.Errorf("usage: caddy anonymous-access %s <app>", verb)
		}
		return caddy1, fmt.Errorf("usage: caddy anonymous-access %s", verb)
	}
	q := url.Values{}
	if t := fl.String("tenant"); t != "" {
		q.Set("tenant", t)
	}
	method, path := http.MethodGet, ""
	switch verb {
	case "apps", "capacity":
		path = "/anonymous-access/" + verb
	case "enable", "disable", "reset-code":
		method, path = http.MethodPost, "/anonymous-access/apps/"+url.PathEscape(args[1])+"/"+verb
	case "link":
		path = "/anonymous-access/apps/" + url.PathEscape(args[1]) + "/link"
	case "embed-code":
		path = "/anonymous-access/apps/" + url.PathEscape(args[1]) + "/embed-code"
		for _, k := range []string{"object", "width", "height"} {
			if v := fl.String(k); v != "" {
				q.Set(k, v)
			}
		}
	default:
		return caddy1, fmt.Errorf("unknown verb %q: use apps, enable, disable, reset-code, link, embed-code or capacity", verb)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
	if err != nil {
		return caddy1, err
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, path, nil, nil)
	if err != nil {
		return caddy1, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return caddy1, err
	}
	return printResult(verb, body)
}

// caddy1 is the exit code of a failed command (Caddy's ExitCodeFailedStartup).
const caddy1 = 1

func printResult(verb string, body []byte) (int, error) {
	switch verb {
	case "link":
		var v struct{ URL string }
		if err := json.Unmarshal(body, &v); err != nil {
			return caddy1, err
		}
		fmt.Println(v.URL)
	case "embed-code":
		var v struct{ HTML string }
		if err := json.Unmarshal(body, &v); err != nil {
			return caddy1, err
		}
		fmt.Println(v.HTML)
	default:
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return caddy1, err
		}
		out, _ := json.MarshalIndent(v, "", "  ")
		_, _ = os.Stdout.Write(append(out, '\n'))
	}
	return 0, nil
}
