package redisstore

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestOptionsUniversal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		check func(t *testing.T, u *redis.UniversalOptions)
	}{
		{"url", Options{URL: "redis://cache.internal:6380/2"}, func(t *testing.T, u *redis.UniversalOptions) {
			if !reflect.DeepEqual(u.Addrs, []string{"cache.internal:6380"}) || u.DB != 2 || u.TLSConfig != nil {
				t.Fatalf("%+v", u)
			}
			if u.DialTimeout != DefaultTimeout || u.ReadTimeout != DefaultTimeout || u.WriteTimeout != DefaultTimeout {
				t.Fatalf("timeouts %v %v %v", u.DialTimeout, u.ReadTimeout, u.WriteTimeout)
			}
		}},
		{"default port", Options{URL: "redis://cache"}, func(t *testing.T, u *redis.UniversalOptions) {
			if !reflect.DeepEqual(u.Addrs, []string{"cache:6379"}) || u.DB != 0 {
				t.Fatalf("%+v", u)
			}
		}},
		{"tls url", Options{URL: "rediss://user:pw@cache:6380/0"}, func(t *testing.T, u *redis.UniversalOptions) {
			if u.TLSConfig == nil || u.TLSConfig.ServerName != "cache" || u.Username != "user" || u.Password != "pw" {
				t.Fatalf("%+v", u)
			}
		}},
		{"settings override the url", Options{URL: "redis://:old@cache/1", Password: "new", DB: 3, ReadTimeout: 3 * time.Second, TLSServerName: "redis.example"}, func(t *testing.T, u *redis.UniversalOptions) {
			if u.Password != "new" || u.DB != 3 || u.ReadTimeout != 3*time.Second || u.TLSConfig == nil || u.TLSConfig.ServerName != "redis.example" {
				t.Fatalf("%+v", u)
			}
		}},
		{"url query", Options{URL: "redis://cache/0?dial_timeout=3s&pool_size=7"}, func(t *testing.T, u *redis.UniversalOptions) {
			if u.DialTimeout != 3*time.Second || u.PoolSize != 7 {
				t.Fatalf("%+v", u)
			}
		}},
		{"sentinel", Options{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "main", SentinelPassword: "sp", DB: 1}, func(t *testing.T, u *redis.UniversalOptions) {
			if u.MasterName != "main" || len(u.Addrs) != 2 || u.SentinelPassword != "sp" || u.DB != 1 {
				t.Fatalf("%+v", u)
			}
		}},
		{"cluster", Options{Addrs: []string{"n1:7000", "n2:7000"}, TLS: true}, func(t *testing.T, u *redis.UniversalOptions) {
			if len(u.Addrs) != 2 || u.TLSConfig == nil {
				t.Fatalf("%+v", u)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := tc.opts.Universal()
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, u)
		})
	}
}

// TestNewClientKinds checks that each setting makes the right kind of
// client: standalone, Sentinel (a failover client) or Cluster.
func TestNewClientKinds(t *testing.T) {
	for _, tc := range []struct {
		opts    Options
		cluster bool
	}{
		{Options{URL: "redis://127.0.0.1:1/0"}, false},
		{Options{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "main"}, false},
		{Options{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}, true},
		{Options{Addrs: []string{"127.0.0.1:1"}, Cluster: true}, true},
	} {
		c := newClient(t, tc.opts)
		_, isCluster := c.(*redis.ClusterClient)
		if _, isClient := c.(*redis.Client); isCluster != tc.cluster || isClient == tc.cluster {
			t.Errorf("%+v made a %T", tc.opts, c)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"nothing", Options{}},
		{"url and addrs", Options{URL: "redis://cache", Addrs: []string{"n1:7000"}}},
		{"bad scheme", Options{URL: "http://cache:6379"}},
		{"bad db", Options{URL: "redis://cache/x"}},
		{"url with cluster", Options{URL: "redis://cache", Cluster: true}},
		{"url with sentinel", Options{URL: "redis://cache", MasterName: "main"}},
		{"cluster db", Options{Addrs: []string{"n1:7000", "n2:7000"}, DB: 2}},
		{"address without port", Options{Addrs: []string{"n1"}}},
		{"negative db", Options{URL: "redis://cache", DB: -1}},
		{"missing ca", Options{URL: "redis://cache", TLSCAFile: filepath.Join(t.TempDir(), "none.pem")}},
		{"bad ca", Options{URL: "redis://cache", TLSCAFile: ca}},
	} {
		if _, err := tc.opts.Universal(); err == nil {
			t.Errorf("%s: accepted %+v", tc.name, tc.opts)
		}
	}
}

// TestURLErrorHidesPassword: a malformed URL's error must not repeat the
// password it carries, since errors end up in logs.
func TestURLErrorHidesPassword(t *testing.T) {
	_, err := Options{URL: "redis://:hunter2@cache:notaport/0"}.Universal()
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}
