//go:build unix

package e2e

// Debian's prometheus as a real analytics backend: its own process on a
// free loopback port, its data in the test's directory, scraping itself
// every second, with the admin API and the lifecycle endpoints switched on
// so that the tests show the gateway keeps them out of reach.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

// prometheusServer is one running prometheus process.
type prometheusServer struct {
	addr    string
	dataDir string
	cmd     *exec.Cmd
	log     redistest.LogBuffer
	exited  chan struct{}
	waitErr error
}

// prometheusBinary finds prometheus on the PATH. Without it the test is
// skipped, except under CI, where .ci/run installs it and its absence is a
// failure.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed (apt-get install -y prometheus)")
		}
		t.Skip("prometheus is not installed (apt-get install -y prometheus)")
	}
	return bin
}

// startPrometheus runs prometheus for the rest of the test and waits until
// it is ready and has scraped itself once, so that `up` has a sample.
func startPrometheus(t *testing.T) *prometheusServer {
	t.Helper()
	bin := prometheusBinary(t)
	dir := t.TempDir()
	p := &prometheusServer{
		addr:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dataDir: filepath.Join(dir, "data"),
		exited:  make(chan struct{}),
	}
	config := filepath.Join(dir, "prometheus.yml")
	scrapeItself := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n"+
		"  - job_name: prometheus\n    static_configs:\n      - targets: ['%s']\n", p.addr)
	if err := os.WriteFile(config, []byte(scrapeItself), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+p.dataDir,
		"--web.listen-address="+p.addr, "--web.enable-admin-api", "--web.enable-lifecycle")
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	waitUntil(t, time.Now().Add(30*time.Second), "prometheus has scraped itself", func() (bool, string) {
		if !p.running() {
			return false, fmt.Sprintf("prometheus exited: %v\n%s", p.waitErr, p.log.String())
		}
		n, err := p.series("/api/v1/query?query=up")
		return err == nil && n > 0, fmt.Sprintf("%d series of up, error %v", n, err)
	})
	return p
}

// stop ends prometheus with SIGTERM (it flushes its head block) and waits,
// killing it after 20 s.
func (p *prometheusServer) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *prometheusServer) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// series asks prometheus itself, not through the gateway, how many series
// a query (the path of an instant or range query) returns.
func (p *prometheusServer) series(query string) (int, error) {
	resp, err := adminClient.Get("http://" + p.addr + query)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body promResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || body.Status != "success" {
		return 0, fmt.Errorf("status %d %q: %s", resp.StatusCode, body.Status, body.Error)
	}
	return len(body.Data.Result), nil
}

// served reads prometheus's own count of the requests each of its
// handlers served (prometheus_http_requests_total, every status code).
func (p *prometheusServer) served(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := adminClient.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatalf("prometheus's own metrics: %v", err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, s := range parseMetrics(t, string(text)) {
		if s.name == "prometheus_http_requests_total" {
			out[s.labels["handler"]] += s.value
		}
	}
	return out
}

// promResponse is the envelope of prometheus's HTTP API.
type promResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	} `json:"data"`
}
