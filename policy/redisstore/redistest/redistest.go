// Package redistest runs a real redis-server for tests: on a free loopback
// port, its data in the test's temporary directory, with the append-only
// file fsync'd on every write, so that a SIGKILL loses nothing the server
// acknowledged and a restart on the same directory brings it all back. It
// also runs a Sentinel watching such a server, and a one-node Cluster.
//
// Without redis-server on PATH the test is skipped, unless the environment
// variable CI is set: there a missing server fails the test loudly.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// readyTimeout bounds the wait for a started server to answer PING (an
// append-only file is replayed first).
const readyTimeout = 10 * time.Second

// Server is one redis-server process. Its port and data directory stay the
// same across Stop, Kill and Restart.
type Server struct {
	tb    testing.TB
	bin   string
	dir   string
	port  int
	conf  string // a config file, the first argument: a Sentinel's
	extra []string
	// cluster is set once the node holds every slot: a restart then
	// waits until the cluster serves again.
	cluster bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *LogBuffer
}

// Binary returns the path of redis-server, skipping the test when there is
// none (failing it when CI is set).
func Binary(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("redis-server not found, and CI is set: install it (apt-get install redis-server)")
		}
		tb.Skip("redis-server not found; install it (apt-get install redis-server) to run the Redis tests")
	}
	return bin
}

// Start runs a server for the rest of the test; the test's cleanup kills
// it. extra are more redis-server arguments, such as "--maxclients", "64".
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: Binary(tb), dir: tb.TempDir(), extra: extra}
	return s.startFree()
}

// StartSentinel runs a Sentinel watching master under name, for the rest
// of the test.
func StartSentinel(tb testing.TB, master *Server, name string) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: Binary(tb), dir: tb.TempDir()}
	s.conf = filepath.Join(s.dir, "sentinel.conf")
	monitor := "sentinel monitor " + name + " 127.0.0.1 " + strconv.Itoa(master.port) + " 1\n"
	if err := os.WriteFile(s.conf, []byte(monitor), 0o600); err != nil {
		tb.Fatal(err)
	}
	s.extra = []string{"--sentinel"}
	return s.startFree()
}

// StartCluster runs a one-node Redis Cluster holding every slot: real
// Cluster semantics (hash slots, CROSSSLOT and non-local key checks on
// scripts) on a single process. Redis lets a fresh master serve only two
// seconds after it starts, so this costs two seconds: share it. Restart
// waits until the cluster serves again.
func StartCluster(tb testing.TB) *Server {
	tb.Helper()
	s := Start(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer c.Close()
	if err := c.Do(context.Background(), "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		tb.Fatalf("assigning slots: %v", err)
	}
	if err := waitClusterOK(s.Addr()); err != nil {
		tb.Fatal(err)
	}
	s.cluster = true
	return s
}

// startFree starts s on a free port; the test's cleanup kills it.
func (s *Server) startFree() *Server {
	s.tb.Helper()
	s.tb.Cleanup(s.Kill)
	// A port found free may be taken before the server binds it: then
	// the server exits at once, and another port is tried.
	var err error
	for range 5 {
		s.port = FreePort(s.tb)
		if err = s.start(); err == nil {
			return s
		}
	}
	s.tb.Fatalf("starting redis-server: %v\n%s", err, s.Log())
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Dir is the server's data directory.
func (s *Server) Dir() string { return s.dir }

// Log is what the server printed, all runs included.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it to
// go. It does nothing when the server is not running.
func (s *Server) Kill() { s.end(syscall.SIGKILL, 0) }

// Stop shuts the server down with SIGTERM and waits for it, killing it if
// it has not gone within ten seconds.
func (s *Server) Stop() { s.end(syscall.SIGTERM, 10*time.Second) }

// Signal sends sig to the running server: SIGSTOP freezes it, SIGCONT
// resumes it.
func (s *Server) Signal(sig os.Signal) {
	s.tb.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		s.tb.Fatal("redistest: signal to a server that is not running")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.tb.Fatal(err)
	}
}

// Restart starts the server again on the same port and data directory,
// stopping it first (SIGKILL) if it runs, and waits until it answers.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.tb.Fatalf("restarting redis-server on port %d: %v\n%s", s.port, err, s.Log())
	}
}

func (s *Server) end(sig syscall.Signal, patience time.Duration) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	if patience > 0 {
		select {
		case <-exited:
			return
		case <-time.After(patience):
			_ = cmd.Process.Kill()
		}
	}
	<-exited
}

func (s *Server) start() error {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--daemonize", "no", "--logfile", "",
	)
	args = append(args, s.extra...)
	s.mu.Lock()
	if s.log == nil {
		s.log = &LogBuffer{}
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return err
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	err := waitReady(s.Addr(), exited)
	if err == nil && s.cluster {
		err = waitClusterOK(s.Addr())
	}
	if err != nil {
		s.Kill()
	}
	return err
}

// waitReady polls addr with PING until it answers PONG (not LOADING), the
// process exits, or readyTimeout passes.
func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if Ping(addr) {
			return nil
		}
		select {
		case <-exited:
			return errors.New("redis-server exited")
		case <-tick.C:
		}
	}
	return fmt.Errorf("redis-server did not answer PING within %v", readyTimeout)
}

// waitClusterOK polls the node at addr until its cluster serves, or
// readyTimeout passes.
func waitClusterOK(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		info, _ := c.ClusterInfo(context.Background()).Result()
		if strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ok after %v:\n%s", readyTimeout, info)
		}
		<-tick.C
	}
}

// Ping speaks just enough RESP to ask whether the server at addr is ready.
func Ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// FreePort returns a port to listen on, never the same twice in this
// process, for redis-server here and for the other servers of a test
// binary (Caddy, backends), which share this one record of ports handed
// out. Caddy binds with SO_REUSEPORT, so a port handed out twice would
// silently split traffic between two processes. Ports are taken below the
// kernel's ephemeral range: one picked with Listen(":0") comes from that
// range and can be handed to an outgoing connection (tests make many)
// before the server binds it, or while a killed server is down and its
// restart wants the port back.
func FreePort(tb testing.TB) int {
	tb.Helper()
	lo, hi := portBand()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		portsMu.Lock()
		used := portsUsed[port]
		portsUsed[port] = true
		portsMu.Unlock()
		if used {
			continue
		}
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	tb.Fatal("no free port")
	return 0
}

// portBand returns [ephemeral start - 24000, ephemeral start), clamped
// above the privileged ports.
func portBand() (lo, hi int) {
	hi = 32768 // Linux's default start of the ephemeral range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 4096 {
				hi = n
			}
		}
	}
	return max(1024, hi-24000), hi
}

// LogBuffer collects a process's output, safe for concurrent writes, for
// failure messages and checks of what a process printed.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
