package redisstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout bounds each network step (dial, read, write) of a client
// made by NewClient. It is short on purpose: a store that does not answer
// within it is treated as down, and new sessions fail closed (503) rather
// than hang while visitors wait.
const DefaultTimeout = time.Second

// Options configures the connection to Redis or Valkey: standalone, behind
// Sentinel, or a Cluster. It is what the Caddyfile's storage redis block
// fills in; zero values take the defaults.
type Options struct {
	// URL is a standalone server, redis://[[user]:password@]host[:port][/db]
	// or rediss:// for TLS (unix:///path/to/socket also works). Query
	// parameters of go-redis's ParseURL (dial_timeout, pool_size, ...) are
	// honoured. Set either URL or Addrs.
	URL string
	// Addrs are the host:port of Cluster nodes, or of Sentinels when
	// MasterName is set. More than one address without MasterName means
	// a Cluster.
	Addrs []string
	// MasterName is the name of the master the Sentinels in Addrs watch.
	MasterName string
	// Cluster selects cluster mode even with a single address.
	Cluster bool
	// Username and Password authenticate to the servers; they override
	// those in URL.
	Username string
	Password string
	// SentinelUsername and SentinelPassword authenticate to the Sentinels.
	SentinelUsername string
	SentinelPassword string
	// DB is the database number (not in Cluster mode); it overrides the
	// one in URL.
	DB int
	// TLS connects with TLS (for Addrs; a rediss:// URL implies it).
	TLS bool
	// TLSServerName is the name expected in the servers' certificates;
	// by default the host dialed.
	TLSServerName string
	// TLSCAFile is a PEM file of the authorities to trust instead of the
	// system's, for servers with a private CA. It implies TLS.
	TLSCAFile string
	// DialTimeout, ReadTimeout and WriteTimeout bound each network step;
	// they default to DefaultTimeout.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolSize is the number of connections per server; go-redis's
	// default (10 per CPU) when zero.
	PoolSize int
}

// NewClient makes a go-redis universal client from o. The client connects
// lazily: an unreachable server is an error of the first command, not of
// NewClient. Close it after the last Store using it.
func NewClient(o Options) (redis.UniversalClient, error) {
	u, err := o.Universal()
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(u), nil
}

// Universal translates o into go-redis's options, checking it.
func (o Options) Universal() (*redis.UniversalOptions, error) {
	u := &redis.UniversalOptions{
		MasterName:       o.MasterName,
		IsClusterMode:    o.Cluster,
		SentinelUsername: o.SentinelUsername,
		SentinelPassword: o.SentinelPassword,
		// One retry: enough to replace a connection the server closed
		// while idle, few enough to fail fast when it is down.
		MaxRetries:    1,
		DialerRetries: 1,
		// Deadlines of callers' contexts apply to reads and writes too.
		ContextTimeoutEnabled: true,
		// RESP2: nothing here uses RESP3's push notifications, and with
		// RESP3 go-redis peeks the socket for them before every command,
		// one more system call on the path of every admission.
		Protocol: 2,
	}
	switch {
	case o.URL != "" && len(o.Addrs) > 0:
		return nil, errors.New("redis: set either a URL or addresses, not both")
	case o.URL != "":
		if err := fromURL(u, o.URL); err != nil {
			return nil, err
		}
		if o.Cluster || o.MasterName != "" {
			return nil, errors.New("redis: a URL names one standalone server; give Cluster nodes or Sentinels as addresses")
		}
	case len(o.Addrs) > 0:
		u.Addrs = append([]string(nil), o.Addrs...)
		for _, a := range u.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("redis: address %q: want host:port", a)
			}
		}
	default:
		return nil, errors.New("redis: a URL or at least one address is required")
	}
	if o.Username != "" {
		u.Username = o.Username
	}
	if o.Password != "" {
		u.Password = o.Password
	}
	if o.DB != 0 {
		u.DB = o.DB
	}
	if u.DB < 0 {
		return nil, errors.New("redis: the database number must not be negative")
	}
	if u.DB != 0 && o.MasterName == "" && (o.Cluster || len(u.Addrs) > 1) {
		return nil, errors.New("redis: Cluster mode has only database 0")
	}
	if err := o.setTLS(u); err != nil {
		return nil, err
	}
	u.DialTimeout = pick(o.DialTimeout, u.DialTimeout, DefaultTimeout)
	u.ReadTimeout = pick(o.ReadTimeout, u.ReadTimeout, DefaultTimeout)
	u.WriteTimeout = pick(o.WriteTimeout, u.WriteTimeout, DefaultTimeout)
	if o.PoolSize > 0 {
		u.PoolSize = o.PoolSize
	}
	return u, nil
}

// fromURL takes a standalone server's settings from a URL.
func fromURL(u *redis.UniversalOptions, rawURL string) error {
	p, err := redis.ParseURL(rawURL)
	if err != nil {
		// A *url.Error quotes the whole URL, password included: keep only
		// its reason. go-redis's own messages name just the bad part.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("redis: bad URL: %w", err)
	}
	u.Addrs = []string{p.Addr}
	if p.Network == "unix" {
		u.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
	}
	u.Username, u.Password, u.DB, u.TLSConfig = p.Username, p.Password, p.DB, p.TLSConfig
	u.DialTimeout, u.ReadTimeout, u.WriteTimeout = p.DialTimeout, p.ReadTimeout, p.WriteTimeout
	u.PoolSize, u.PoolTimeout, u.MinIdleConns, u.MaxIdleConns = p.PoolSize, p.PoolTimeout, p.MinIdleConns, p.MaxIdleConns
	if p.MaxRetries != 0 {
		u.MaxRetries = p.MaxRetries
	}
	return nil
}

// setTLS turns TLS on when asked, trusting TLSCAFile's authorities.
func (o Options) setTLS(u *redis.UniversalOptions) error {
	if !o.TLS && o.TLSCAFile == "" && o.TLSServerName == "" {
		return nil
	}
	if u.TLSConfig == nil {
		u.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if o.TLSServerName != "" {
		u.TLSConfig.ServerName = o.TLSServerName
	}
	if o.TLSCAFile != "" {
		pem, err := os.ReadFile(o.TLSCAFile)
		if err != nil {
			return fmt.Errorf("redis: reading the CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("redis: no PEM certificate in %s", o.TLSCAFile)
		}
		u.TLSConfig.RootCAs = pool
	}
	return nil
}

// pick returns the first positive duration of set, fromURL and def.
func pick(set, fromURL, def time.Duration) time.Duration {
	switch {
	case set > 0:
		return set
	case fromURL > 0:
		return fromURL
	default:
		return def
	}
}
