package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/boltstore"
	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore"
)

// Storage selects the state store.
type Storage struct {
	// Type is "bolt" (embedded, the default) or "redis" (cluster mode).
	Type string `json:"type,omitempty"`
	// Path is the bolt file. Default: anonymous_access/state.db under
	// Caddy's data directory.
	Path string `json:"path,omitempty"`
	// Redis configures the connection when Type is "redis".
	Redis *RedisStorage `json:"redis,omitempty"`
}

// RedisStorage is the connection to Redis or Valkey: standalone, behind
// Sentinel, or a Cluster. Values may hold placeholders such as
// {env.REDIS_PASSWORD}, resolved at provision time.
type RedisStorage struct {
	// URL of a standalone server: redis://[user:password@]host:port/db,
	// or rediss:// for TLS.
	URL string `json:"url,omitempty"`
	// Addresses of Cluster nodes, or of Sentinels with MasterName.
	Addresses []string `json:"addresses,omitempty"`
	// MasterName is the master the Sentinels watch.
	MasterName string `json:"master_name,omitempty"`
	// Cluster selects cluster mode even with one address.
	Cluster bool `json:"cluster,omitempty"`
	// Username and Password authenticate to the servers.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// SentinelUsername and SentinelPassword authenticate to the Sentinels.
	SentinelUsername string `json:"sentinel_username,omitempty"`
	SentinelPassword string `json:"sentinel_password,omitempty"`
	// DB is the database number (not with Cluster).
	DB int `json:"db,omitempty"`
	// TLS connects with TLS; TLSServerName and TLSCAFile adjust it.
	TLS           bool   `json:"tls,omitempty"`
	TLSServerName string `json:"tls_server_name,omitempty"`
	TLSCAFile     string `json:"tls_ca_file,omitempty"`
	// KeyPrefix starts every key; default "anonaccess".
	KeyPrefix string `json:"key_prefix,omitempty"`
}

// Open files and clients are shared by every tenant that names them, across
// reloads: a bbolt file can be opened only once per process.
var (
	boltFiles    = caddy.NewUsagePool() // file path -> *boltFile
	redisClients = caddy.NewUsagePool() // options -> *redisClient
)

type boltFile struct{ db *boltstore.DB }

func (b *boltFile) Destruct() error { return b.db.Close() }

// redisClient is a go-redis client. go-redis writes its own messages
// (connection failures, Sentinel failovers) to stderr through one logger
// for the whole process: v9 has no logger per client, and replacing the
// process's (redis.SetLogger) would take over the messages of every other
// plugin's clients too, so it is left as it is.
type redisClient struct{ client goredis.UniversalClient }

func (c *redisClient) Destruct() error { return c.client.Close() }

// lockTimeout bounds the wait for a state file held by another process.
const lockTimeout = 5 * time.Second

// resolved returns the storage with placeholders replaced and defaults
// filled, ready to key and open.
func (st *Storage) resolved() (*Storage, error) {
	repl := caddy.NewReplacer()
	out := &Storage{Type: st.Type, Path: repl.ReplaceKnown(st.Path, "")}
	switch st.Type {
	case "bolt":
		if out.Path == "" {
			out.Path = filepath.Join(caddy.AppDataDir(), "anonymous_access", "state.db")
		}
		p, err := filepath.Abs(out.Path)
		out.Path = p
		return out, err
	case "redis":
		if st.Redis == nil {
			return nil, errors.New("anonymous_access: storage redis needs a URL or addresses")
		}
		r := *st.Redis
		for _, f := range []*string{&r.URL, &r.MasterName, &r.Username, &r.Password, &r.SentinelUsername, &r.SentinelPassword, &r.TLSServerName, &r.TLSCAFile, &r.KeyPrefix} {
			*f = repl.ReplaceKnown(*f, "")
		}
		r.Addresses = append([]string(nil), r.Addresses...)
		for i := range r.Addresses {
			r.Addresses[i] = repl.ReplaceKnown(r.Addresses[i], "")
		}
		out.Redis = &r
		return out, nil
	}
	return nil, fmt.Errorf("anonymous_access: unknown storage %q (supported: bolt, redis)", st.Type)
}

func (r *RedisStorage) options() redisstore.Options {
	return redisstore.Options{
		URL: r.URL, Addrs: r.Addresses, MasterName: r.MasterName, Cluster: r.Cluster,
		Username: r.Username, Password: r.Password,
		SentinelUsername: r.SentinelUsername, SentinelPassword: r.SentinelPassword,
		DB: r.DB, TLS: r.TLS, TLSServerName: r.TLSServerName, TLSCAFile: r.TLSCAFile,
	}
}

// key identifies what the storage opens, for sharing it.
func (st *Storage) key() (string, error) {
	if st.Type == "bolt" {
		return "bolt:" + st.Path, nil
	}
	b, err := json.Marshal(st.Redis)
	return "redis:" + string(b), err
}

// open opens the tenant's store in the file or on the client that key
// (from st.key) names, and returns what lets go of it.
func (st *Storage) open(key, tenant string, now func() time.Time) (policy.Store, func() error, error) {
	if st.Type == "bolt" {
		fv, _, err := boltFiles.LoadOrNew(key, func() (caddy.Destructor, error) {
			db, err := boltstore.Open(st.Path, lockTimeout)
			if err != nil {
				return nil, err
			}
			return &boltFile{db: db}, nil
		})
		if err != nil {
			return nil, nil, err
		}
		store, err := fv.(*boltFile).db.Tenant(tenant, now)
		if err != nil {
			_, derr := boltFiles.Delete(key)
			return nil, nil, errors.Join(err, derr)
		}
		return store, func() error {
			err := store.Close()
			_, derr := boltFiles.Delete(key)
			return errors.Join(err, derr)
		}, nil
	}
	cv, _, err := redisClients.LoadOrNew(key, func() (caddy.Destructor, error) {
		c, err := redisstore.NewClient(st.Redis.options())
		if err != nil {
			return nil, fmt.Errorf("anonymous_access: storage redis: %w", err)
		}
		return &redisClient{client: c}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	store, err := redisstore.New(cv.(*redisClient).client, st.Redis.KeyPrefix, tenant)
	if err != nil {
		_, derr := redisClients.Delete(key)
		return nil, nil, errors.Join(err, derr)
	}
	return store, func() error {
		_, err := redisClients.Delete(key)
		return err
	}, nil
}
