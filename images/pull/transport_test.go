package pull

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// noTLS stands for HTTPS failing (a registry that speaks only plain HTTP,
// or someone blocking port 443) without any packet leaving the machine.
type noTLS struct{}

func (noTLS) RoundTrip(req *http.Request) (*http.Response, error) {
	return nil, errors.New("https: test: no TLS here")
}

// TestPlainHTTPOnlyToThisMachine: without --insecure, plain HTTP goes to a
// registry on this machine (by address or by a name that leads there) and
// nowhere else, even where go-containerregistry would fall back to it (a
// private address); with --insecure it goes anywhere.
func TestPlainHTTPOnlyToThisMachine(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(host)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/t/img:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	guarded := &loopbackOnly{tls: noTLS{}, plain: localPlainHTTP().(*loopbackOnly).plain}
	get := func(ref string, rt http.RoundTripper, opts ...name.Option) error {
		r, err := name.ParseReference(ref, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = remote.Get(r, remote.WithTransport(rt), remote.WithContext(ctx))
		return err
	}
	for _, h := range []string{"127.0.0.1:" + port, "localhost:" + port} {
		if err := get(h+"/t/img:v1", guarded); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	// 10.x is private: go-containerregistry itself would fall back to
	// plain HTTP. Refused before any connection is tried.
	priv := "10.255.255.1:" + port + "/t/img:v1"
	if r, _ := name.ParseReference(priv); r.Context().Scheme() != "http" {
		t.Fatalf("go-containerregistry no longer falls back to http for %s: this guard may be moot", priv)
	}
	var pe *PlainHTTPError
	start := time.Now()
	err = get(priv, guarded)
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "--insecure allows it") {
		t.Fatalf("plain HTTP to a private address: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the refusal took %v", time.Since(start))
	}
	if strings.Contains(oneLine(err), "\n") {
		t.Errorf("not one line: %q", err)
	}
	// --insecure: plain HTTP wherever the name says (here, this machine
	// under its own name).
	if err := get(host+"/t/img:v1", insecureTransport(), name.Insecure); err != nil {
		t.Errorf("--insecure: %v", err)
	}
}

// TestDialLoopback: a connection whose peer is not a loopback address is
// closed and refused, whatever the name that led to it.
func TestDialLoopback(t *testing.T) {
	ctx := context.Background()
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	c, err := dialLoopback(ctx, "tcp", lo.Addr().String())
	if err != nil {
		t.Fatalf("loopback: %v", err)
	}
	c.Close()
	var other net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			other = ipn.IP
			break
		}
	}
	if other == nil {
		t.Skip("no non-loopback IPv4 address on this machine to listen on")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(other.String(), "0"))
	if err != nil {
		t.Skipf("listen on %s: %v", other, err)
	}
	defer ln.Close()
	var pe *PlainHTTPError
	if _, err := dialLoopback(ctx, "tcp", ln.Addr().String()); !errors.As(err, &pe) {
		t.Fatalf("a connection to %s: %v, want a refusal", ln.Addr(), err)
	}
}
