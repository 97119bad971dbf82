//go:build unix

package e2e

// Streams through the gateway: a backend with live data (a WebSocket echo
// and a server-sent event stream), and the viewer's end of such streams,
// which records the moment it sees the stream closed.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// streamBackend is the backend of a dashboard with live data. Paths ending
// in /ws are a WebSocket echo, paths ending in /events an event stream of
// ticks every 50 ms; any other request gets the plain answer, with the
// Cache-Control that its query parameter cache-control asks for.
type streamBackend struct {
	*backend
	// live counts the streams the backend is serving right now.
	live atomic.Int32
}

func newStreamBackend(t *testing.T) *streamBackend {
	sb := &streamBackend{}
	sb.backend = startBackend(t, sb.answer)
	return sb
}

func (sb *streamBackend) answer(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/ws"):
		sb.echo(w, r)
	case strings.HasSuffix(r.URL.Path, "/events"):
		sb.events(w, r)
	default:
		if cc := r.URL.Query().Get("cache-control"); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		answerPlain(w, r)
	}
}

// echo sends every WebSocket message back, prefixed with "echo ".
func (sb *streamBackend) echo(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	sb.live.Add(1)
	defer sb.live.Add(-1)
	// The request's context does not outlive a hijacked connection's
	// close: reads end when the gateway closes the upstream connection.
	ctx := context.Background()
	for {
		typ, msg, err := conn.Read(ctx)
		if err != nil {
			return
		}
		if err := conn.Write(ctx, typ, append([]byte("echo "), msg...)); err != nil {
			return
		}
	}
}

// events sends "data: tick N" every 50 ms until the request ends.
func (sb *streamBackend) events(w http.ResponseWriter, r *http.Request) {
	sb.live.Add(1)
	defer sb.live.Add(-1)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(w, "data: tick %d\n\n", i); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// wantLive waits until the backend serves exactly n streams.
func (sb *streamBackend) wantLive(t *testing.T, n int32, what string) {
	t.Helper()
	waitUntil(t, time.Now().Add(5*time.Second), what, func() (bool, string) {
		got := sb.live.Load()
		return got == n, fmt.Sprintf("%d streams open at the backend, want %d", got, n)
	})
}

// stream is a viewer's open WebSocket or event stream through the
// gateway. A goroutine reads it all along: the messages it got go to
// msgs, and when the stream ends closedAt is set and done closed.
type stream struct {
	what     string
	msgs     chan string
	done     chan struct{}
	closedAt time.Time
	endErr   error
	ws       *websocket.Conn
}

func newStream(t *testing.T, what string, stop func()) *stream {
	s := &stream{what: what, msgs: make(chan string, 256), done: make(chan struct{})}
	t.Cleanup(func() {
		stop()
		<-s.done
	})
	return s
}

// ended records that the viewer saw the stream end, with why.
func (s *stream) ended(err error) {
	s.closedAt, s.endErr = time.Now(), err
	close(s.done)
}

// got hands a message to the test, dropping it if the test is not
// reading: only fresh messages matter.
func (s *stream) got(msg string) {
	select {
	case s.msgs <- msg:
	default:
	}
}

// dialWebSocket opens a WebSocket to path on g with hdr. It returns the
// handshake's response when the gateway refused the upgrade.
func dialWebSocket(t *testing.T, c *client, g *gateway, path string, hdr http.Header) (*stream, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws://"+g.site+path, &websocket.DialOptions{HTTPClient: c.hc, HTTPHeader: hdr})
	if err != nil {
		return nil, resp, err
	}
	s := newStream(t, "WebSocket "+path, func() { conn.CloseNow() })
	s.ws = conn
	go func() {
		for {
			_, msg, err := conn.Read(context.Background())
			if err != nil {
				s.ended(err)
				return
			}
			s.got(string(msg))
		}
	}()
	return s, resp, nil
}

// openWebSocket opens a WebSocket with a session and checks one echo.
func openWebSocket(t *testing.T, c *client, g *gateway, sess session, path string) *stream {
	t.Helper()
	s, resp, err := dialWebSocket(t, c, g, path, sess.cookieHeader())
	if err != nil {
		t.Fatalf("WebSocket %s with a %s session: %v (response %v)", path, sess.app, err, status(resp))
	}
	s.wantAlive(t)
	return s
}

func status(resp *http.Response) any {
	if resp == nil {
		return "none"
	}
	return resp.StatusCode
}

// openEvents opens an event stream with hdr and returns it with the
// response, whose body the stream reads.
func openEvents(t *testing.T, c *client, g *gateway, path string, hdr http.Header) (*stream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = mergeHeaders(hdr, http.Header{"Accept": {"text/event-stream"}})
	// Not c.hc: its timeout would end a long stream.
	resp, err := (&http.Client{Transport: c.hc.Transport}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("event stream %s: %v", path, err)
	}
	s := newStream(t, "event stream "+path, cancel)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if msg, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				s.got(msg)
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		s.ended(err)
	}()
	return s, resp
}

// openEventStream opens an event stream with a session and checks that
// ticks arrive.
func openEventStream(t *testing.T, c *client, g *gateway, sess session, path string) *stream {
	t.Helper()
	s, resp := openEvents(t, c, g, path, sess.cookieHeader())
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream %s with a %s session: %d %q", path, sess.app, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s.wantAlive(t)
	return s
}

// wantAlive checks that the stream still carries data: a WebSocket echoes
// a fresh message, an event stream delivers a fresh tick.
func (s *stream) wantAlive(t *testing.T) {
	t.Helper()
	for len(s.msgs) > 0 {
		<-s.msgs
	}
	want := ""
	if s.ws != nil {
		want = fmt.Sprintf("echo %d", time.Now().UnixNano())
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := s.ws.Write(ctx, websocket.MessageText, []byte(strings.TrimPrefix(want, "echo "))); err != nil {
			t.Fatalf("%s: writing: %v", s.what, err)
		}
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case msg := <-s.msgs:
			if want == "" || msg == want {
				return
			}
		case <-s.done:
			t.Fatalf("%s ended at %v while it should be open: %v", s.what, s.closedAt.Format(time.StampMilli), s.endErr)
		case <-timeout:
			t.Fatalf("%s: no data within 5s", s.what)
		}
	}
}

// isOpen reports whether the viewer still has the stream.
func (s *stream) isOpen() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// waitClosed waits until the viewer sees the stream end, by deadline, and
// returns when it did.
func (s *stream) waitClosed(t *testing.T, deadline time.Time) time.Time {
	t.Helper()
	waitUntil(t, deadline, s.what+" closed", func() (bool, string) {
		return !s.isOpen(), "still open"
	})
	return s.closedAt
}

// closeLatencies waits for every stream to end within bound of since and
// returns how long after since each one did (negative: before since).
func closeLatencies(t *testing.T, since time.Time, bound time.Duration, streams ...*stream) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, s := range streams {
		d := s.waitClosed(t, since.Add(bound+5*time.Second)).Sub(since)
		if d >= bound {
			t.Errorf("%s closed %v after the change, want within %v", s.what, d.Round(time.Millisecond), bound)
		}
		out = append(out, d)
	}
	return out
}
