// Package examples_test checks the monitoring examples against the metrics
// the plugin exports: a metric or label renamed in metrics/ without the
// Grafana dashboard and the alert rules following fails here.
package examples_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
)

// planned are metric names DESIGN sets for features not built yet; rules
// may use them before any instance exports them.
var planned = map[string]string{
	"caddy_anonymous_access_queue_length": "the waiting room (DESIGN, Metrics additions)",
}

// exported is what the metrics package registers: each metric's labels,
// and whether a gather shows it is a histogram.
type exported struct {
	labels    map[string]bool
	histogram bool
}

// descRecorder is a Registerer that keeps the descriptions of what is
// registered into it.
type descRecorder struct{ descs []*prometheus.Desc }

func (r *descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *descRecorder) Unregister(prometheus.Collector) bool { return false }

// A Desc tells its name and labels only through String.
var descFields = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

func exportedMetrics(t *testing.T) map[string]*exported {
	t.Helper()
	var rec descRecorder
	if err := metrics.Register(&rec); err != nil {
		t.Fatal(err)
	}
	out := map[string]*exported{}
	for _, d := range rec.descs {
		m := descFields.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name and labels of %s", d)
		}
		e := &exported{labels: map[string]bool{}}
		for l := range strings.SplitSeq(m[2], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "c("), ")"); l != "" {
				e.labels[l] = true
			}
		}
		out[m[1]] = e
	}
	if len(out) < 5 {
		t.Fatalf("read only %d metrics from the metrics package", len(out))
	}
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if e := out[f.GetName()]; e != nil {
			e.histogram = f.GetType().String() == "HISTOGRAM"
		}
	}
	return out
}

// A metric name in an expression, with its label matchers if any.
var selector = regexp.MustCompile(`\b(caddy_anonymous_access_[a-z_]+)(\{[^}]*\})?`)
var matcherLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)

// checkExpr reports every metric in expr the metrics package does not
// export, and every label matcher on a label the metric does not have.
// With tenantFilter, every metric that has a tenant label must be
// filtered on the dashboard's tenant variable.
func checkExpr(t *testing.T, where, expr string, known map[string]*exported, tenantFilter bool) (used []string) {
	t.Helper()
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		name, matchers := m[1], m[2]
		e, base := resolve(name, known)
		if e == nil {
			if why, ok := planned[name]; ok {
				t.Logf("%s: %s is planned for %s", where, name, why)
				continue
			}
			t.Errorf("%s: %s is not a metric of the metrics package", where, name)
			continue
		}
		used = append(used, base)
		for _, l := range matcherLabel.FindAllStringSubmatch(matchers, -1) {
			if !e.labels[l[1]] && l[1] != "le" {
				t.Errorf("%s: %s has no label %q", where, name, l[1])
			}
		}
		if tenantFilter && e.labels["tenant"] && !strings.Contains(matchers, `tenant=~"$tenant"`) {
			t.Errorf("%s: %s is not filtered on the tenant variable", where, name)
		}
	}
	return used
}

// resolve finds the exported metric a series name belongs to: itself, or
// the histogram whose _bucket, _sum or _count it is.
func resolve(name string, known map[string]*exported) (*exported, string) {
	if e := known[name]; e != nil {
		return e, name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if e := known[base]; ok && e != nil && e.histogram {
			return e, base
		}
	}
	return nil, ""
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource datasource     `json:"datasource"`
	GridPos    map[string]int `json:"gridPos"`
	Panels     []panel        `json:"panels"` // a collapsed row's
	Targets    []panelTarget  `json:"targets"`
}

type panelTarget struct {
	RefID      string     `json:"refId"`
	Expr       string     `json:"expr"`
	Datasource datasource `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana/anonymous-access.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("not a dashboard: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels")
	}
	known := exportedMetrics(t)

	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Name == "tenant" {
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("tenant variable query: %v", err)
			}
			if q.Query != "label_values(caddy_anonymous_access_capacity, tenant)" {
				t.Errorf("tenant variable query %q", q.Query)
			}
			checkExpr(t, "tenant variable", q.Query, known, false)
		}
	}
	if vars["datasource"] != "datasource" || vars["tenant"] != "query" {
		t.Fatalf("variables %v, want a datasource variable and a tenant query", vars)
	}

	used := map[string]bool{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 || p.GridPos["w"] == 0 || p.GridPos["h"] == 0 {
				t.Errorf("panel %q: datasource %+v, %d targets, gridPos %v", p.Title, p.Datasource, len(p.Targets), p.GridPos)
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" || tg.RefID == "" || tg.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: target %+v", p.Title, tg)
				}
				for _, m := range checkExpr(t, "panel "+p.Title, tg.Expr, known, true) {
					used[m] = true
				}
			}
		}
	}
	walk(d.Panels)
	// Every metric the plugin exports has a place on the dashboard.
	for name := range known {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

func TestAlertRulesUseExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("prometheus/anonymous-access.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	known := exportedMetrics(t)
	used := map[string]bool{}
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range checkExpr(t, "rules line "+strconv.Itoa(i+1), line, known, false) {
			used[m] = true
		}
	}
	for _, name := range []string{"caddy_anonymous_access_sessions_active", "caddy_anonymous_access_capacity", "caddy_anonymous_access_store_up",
		"caddy_anonymous_access_links_rejected_total", "caddy_anonymous_access_requests_denied_total"} {
		if !used[name] {
			t.Errorf("the alert rules no longer use %s", name)
		}
	}
	// A planned metric that is now exported leaves the planned list.
	for name := range planned {
		if known[name] != nil {
			t.Errorf("%s is exported now: take it off the planned list", name)
		}
	}
}
