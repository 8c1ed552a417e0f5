package pull

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PlainHTTPError is a plain-HTTP request refused because its host is not
// on this machine.
type PlainHTTPError struct{ Host string }

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("plain HTTP to %s refused: it is not on this machine (--insecure allows it)", e.Host)
}

// insecureTransport is for --insecure registries: plain HTTP is allowed by
// name.Insecure, and a certificate is not verified.
func insecureTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	return t
}

// localPlainHTTP is the transport when --insecure is not given.
// go-containerregistry falls back to plain HTTP, after HTTPS fails, not
// only for localhost and 127.0.0.1 but for every private address
// (10/8, 172.16/12, 192.168/16) and *.localhost name: someone on the
// network who blocks HTTPS could then serve any manifest for a tag.
// Docker allows plain HTTP only to loopback by default, and so does this:
// HTTPS requests go out as usual; a plain-HTTP one is refused unless its
// connection's peer is a loopback address (checked on the connection, so
// a name is judged by where it really leads), with no proxy in between.
func localPlainHTTP() http.RoundTripper {
	base, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		base = http.DefaultTransport.(*http.Transport)
	}
	plain := base.Clone()
	plain.Proxy = nil
	plain.DialContext = dialLoopback
	return &loopbackOnly{tls: remote.DefaultTransport, plain: plain}
}

var loopbackDialer = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}

// dialLoopback connects, and keeps the connection only when its peer is a
// loopback address.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := loopbackDialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		c.Close()
		return nil, &PlainHTTPError{Host: addr}
	}
	return c, nil
}

type loopbackOnly struct{ tls, plain http.RoundTripper }

func (t *loopbackOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return t.tls.RoundTrip(req)
	}
	// An address is judged at once, without a connection attempt that
	// could hang on an unreachable host.
	if ip := net.ParseIP(req.URL.Hostname()); ip != nil && !ip.IsLoopback() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	return t.plain.RoundTrip(req)
}
