package ratelimit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestIdleBody sends bodies over a raw connection: one that stalls half-way must end the
// request with an error; one that trickles steadily, each pause shorter than the limit, must
// be read whole.
func TestIdleBody(t *testing.T) {
	const idle = 300 * time.Millisecond
	results := make(chan string, 1)
	srv := httptest.NewServer(IdleBody(idle, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			results <- "error"
			return
		}
		results <- fmt.Sprintf("read %d", len(b))
		w.WriteHeader(204)
	})))
	defer srv.Close()
	for _, tc := range []struct {
		name   string
		chunks int           // chunks of 10 bytes actually sent, of 10
		pause  time.Duration // between chunks
		want   string
	}{
		{"steady trickle", 10, idle / 3, "read 100"},
		{"stalls", 3, idle / 3, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
			for range tc.chunks {
				conn.Write([]byte(strings.Repeat("x", 10)))
				time.Sleep(tc.pause)
			}
			select {
			case got := <-results:
				if got != tc.want {
					t.Fatalf("handler: %s, want %s", got, tc.want)
				}
			case <-time.After(20 * idle):
				t.Fatal("the handler is still waiting for the body")
			}
			if tc.want != "error" {
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil || resp.StatusCode != 204 {
					t.Fatalf("response: %v %v", resp, err)
				}
			}
		})
	}
}
