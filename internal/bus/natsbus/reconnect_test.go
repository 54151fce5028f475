package natsbus

import (
	"context"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"cshub/internal/bus/bustest"
)

// server is a nats-server of the test's own, which the test may kill and restart.
type server struct {
	t    *testing.T
	bin  string
	port string
	dir  string
	cmd  *exec.Cmd
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "-a", "127.0.0.1", "-p", s.port, "-js", "-sd", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting nats-server: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+s.port); err == nil {
			c.Close()
			return
		}
	}
	s.t.Fatal("nats-server did not listen within 10s")
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// TestReconnect kills the server under a publisher and a subscriber and starts it again: the
// client reconnects by itself and the subscription goes on with the next events, none lost or
// repeated. It runs its own nats-server, so it needs the binary as well as CSHUB_TEST_NATS.
func TestReconnect(t *testing.T) {
	natsURL(t)
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("nats-server is not on PATH: skipping the reconnect test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	srv := &server{t: t, bin: bin, port: port, dir: t.TempDir()}
	srv.start()
	t.Cleanup(srv.stop)

	url := "nats://127.0.0.1:" + port
	b := open(t, url, Options{Client: []nats.Option{nats.ReconnectWait(50 * time.Millisecond)}})
	ch, err := b.Subscribe(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(i int) uint64 {
		t.Helper()
		// While the client reconnects, Publish fails; a caller retries as it would.
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		for {
			seq, err := b.Publish(ctx, bustest.Event(i))
			if err == nil {
				return seq
			}
			if ctx.Err() != nil {
				t.Fatalf("Publish(Event(%d)) after restart: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	expect := func(i int, seq uint64) {
		t.Helper()
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed: %v", b.Err(ch))
			}
			if e.Seq != seq || e.ObjectID != bustest.Event(i).ObjectID {
				t.Fatalf("got Seq %d %s, want Seq %d %s", e.Seq, e.ObjectID, seq, bustest.Event(i).ObjectID)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("event %d (Seq %d) not received within 20s", i, seq)
		}
	}
	for i := range 3 {
		expect(i, publish(i))
	}

	srv.stop()
	start := time.Now()
	srv.start()
	for i := 3; i < 6; i++ {
		expect(i, publish(i))
	}
	t.Logf("delivery resumed %v after the restart", time.Since(start).Round(time.Millisecond))
	select {
	case e := <-ch:
		t.Fatalf("extra event Seq %d", e.Seq)
	case <-time.After(200 * time.Millisecond):
	}
}
