package redisstore

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server for one test: a free loopback port,
// its data in a temp dir, append-only file fsync'd on every write, so that
// a kill -9 loses nothing that was acknowledged.
type redisServer struct {
	t      *testing.T
	bin    string
	dir    string
	port   int
	pre    []string // arguments before the common ones: a config file
	extra  []string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *redistest.LogBuffer
}

// redisBinary finds redis-server. Without it the test is skipped, unless
// the CI variable is set: there a missing server must fail loudly.
func redisBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found, and CI is set: install it (apt-get install redis-server)")
		}
		t.Skip("redis-server not found; install it (apt-get install redis-server) to run the Redis store tests")
	}
	return bin
}

// startRedis starts a server that the test's cleanup kills. extra are more
// redis-server arguments.
func startRedis(t *testing.T, extra ...string) *redisServer {
	t.Helper()
	r := &redisServer{t: t, bin: redisBinary(t), dir: t.TempDir(), extra: extra}
	return r.startFree()
}

// startSentinel starts a Sentinel watching master under the name "main".
func startSentinel(t *testing.T, master *redisServer) *redisServer {
	t.Helper()
	r := &redisServer{t: t, bin: redisBinary(t), dir: t.TempDir()}
	conf := filepath.Join(r.dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte("sentinel monitor main 127.0.0.1 "+strconv.Itoa(master.port)+" 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.pre = []string{conf, "--sentinel"}
	return r.startFree()
}

// startFree starts r on a free port; the test's cleanup kills it.
func (r *redisServer) startFree() *redisServer {
	t := r.t
	t.Helper()
	t.Cleanup(r.Stop)
	// The free port may be taken between picking and binding it by
	// another process: pick another then.
	var err error
	for range 3 {
		r.port = freePort(t)
		if err = r.start(); err == nil {
			return r
		}
	}
	t.Fatalf("starting redis-server: %v\n%s", err, r.log)
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the server's host:port.
func (r *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// URL is the server's redis:// URL.
func (r *redisServer) URL() string { return "redis://" + r.Addr() + "/0" }

func (r *redisServer) start() error {
	args := []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--daemonize", "no", "--logfile", "",
	}
	r.log = &redistest.LogBuffer{}
	args = append(append(r.pre, args...), r.extra...)
	r.cmd = exec.Command(r.bin, args...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(r.cmd, r.exited)
	return r.waitReady()
}

// waitReady polls the server with PING until it answers PONG (not LOADING)
// or exits, for at most ten seconds.
func (r *redisServer) waitReady() error {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if redistest.Ping(r.Addr()) {
			return nil
		}
		select {
		case <-r.exited:
			return errString("redis-server exited")
		case <-tick.C:
		}
	}
	r.Stop()
	return errString("redis-server did not answer PING within 10s")
}

type errString string

func (e errString) Error() string { return string(e) }

// Stop kills the server, as a crash would, and waits for it to go.
func (r *redisServer) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.exited:
	default:
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// signal sends sig to the running server (SIGSTOP freezes it, SIGCONT
// resumes it).
func (r *redisServer) signal(sig os.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}

// Restart starts the server again on the same port and data directory.
func (r *redisServer) Restart() {
	r.t.Helper()
	r.Stop()
	if err := r.start(); err != nil {
		r.t.Fatalf("restarting redis-server on port %d: %v\n%s", r.port, err, r.log)
	}
}

// startCluster starts a one-node Redis Cluster holding every slot: real
// Cluster semantics (hash slots, CROSSSLOT and non-local key checks on
// scripts) on a single process. Redis lets a fresh master serve only two
// seconds after it starts, so this costs two seconds: share it.
func startCluster(t *testing.T) *redisServer {
	t.Helper()
	r := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.Do(context.Background(), "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("assigning slots: %v", err)
	}
	r.waitClusterOK()
	return r
}

// waitClusterOK polls until the cluster serves, for at most ten seconds.
func (r *redisServer) waitClusterOK() {
	r.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		info, _ := c.ClusterInfo(context.Background()).Result()
		if strings.Contains(info, "cluster_state:ok") {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("cluster not ok after 10s:\n%s", info)
		}
		<-tick.C
	}
}

// newClient connects to addrs with the package's own options builder; the
// test's cleanup closes it.
func newClient(t *testing.T, o Options) redis.UniversalClient {
	t.Helper()
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns tenant's store on client, failing the test on error.
func newStore(t *testing.T, c redis.UniversalClient, tenant string) *Store {
	t.Helper()
	s, err := New(c, "", tenant)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
