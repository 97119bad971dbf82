//go:build unix

package e2e

// Reading the gateway's metrics in the Prometheus text format.

import (
	"strconv"
	"strings"
	"testing"
)

// sample is one line of the text format: a metric, its labels, its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metrics scrapes g's admin /metrics and returns the text and its samples.
func (g *gateway) metrics(t *testing.T) (string, []sample) {
	t.Helper()
	text := string(g.adminGet(t, "/metrics"))
	return text, parseMetrics(t, text)
}

// parseMetrics reads the Prometheus text format.
func parseMetrics(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			t.Fatalf("metrics line %q", line)
		}
		s.name, line = line[:i], line[i:]
		if line[0] == '{' {
			line = line[1:]
			for line[0] != '}' {
				eq := strings.IndexByte(line, '=')
				if eq < 0 || len(line) < eq+2 || line[eq+1] != '"' {
					t.Fatalf("metrics labels %q", line)
				}
				key := line[:eq]
				line = line[eq+2:]
				var val strings.Builder
				for line[0] != '"' {
					if line[0] == '\\' && len(line) > 1 {
						switch line[1] {
						case 'n':
							val.WriteByte('\n')
						default:
							val.WriteByte(line[1])
						}
						line = line[2:]
						continue
					}
					val.WriteByte(line[0])
					line = line[1:]
				}
				s.labels[key] = val.String()
				line = strings.TrimPrefix(line[1:], ",")
			}
			line = line[1:]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			t.Fatalf("metrics line without value: %q", s.name)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			t.Fatalf("metrics value %q: %v", fields[0], err)
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

// metricValue sums the samples of name whose labels include want.
func metricValue(samples []sample, name string, want map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			sum += s.value
			found = true
		}
	}
	return sum, found
}

func wantMetric(t *testing.T, samples []sample, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := metricValue(samples, name, labels)
	if !ok {
		t.Errorf("metric %s%v missing", name, labels)
		return
	}
	if got != want {
		t.Errorf("metric %s%v = %v, want %v", name, labels, got, want)
	}
}
