package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/telemetry"
)

func TestServeShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()

	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/quick", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "quick") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "slow")
	})

	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- telemetry.Serve(ctx, ln, mux) }()

	require.Equal(t, "quick", fetch(t, url+"/quick"))

	slow := make(chan string, 1)
	go func() { slow <- fetch(t, url+"/slow") }()
	<-entered
	cancel()
	// Shutdown has begun once the listener refuses connections; only then
	// may the in-flight request finish.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	}, 10*time.Second, 5*time.Millisecond)
	close(release)
	require.Equal(t, "slow", <-slow)
	require.NoError(t, <-served)
}

func TestListenAndServeBadAddress(t *testing.T) {
	err := telemetry.ListenAndServe(t.Context(), "127.0.0.1:99999", http.NotFoundHandler())
	require.ErrorContains(t, err, "telemetry: listen 127.0.0.1:99999:")
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return string(b)
}
