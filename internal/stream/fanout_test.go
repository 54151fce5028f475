package stream_test

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"cshub/internal/hub"
	"cshub/internal/stream"
)

// TestManySubscribers has 200 streams follow 300 objects stored in batches while they are
// open; every tenth stream disconnects halfway and resumes with Last-Event-ID. Each must
// receive every object exactly once, in order. It logs the rate of frames delivered.
func TestManySubscribers(t *testing.T) {
	const (
		subscribers = 200
		objects     = 300
	)
	subs := subscribers
	if testing.Short() || raceEnabled {
		subs = 30
	}
	f := newFixture(t, 0, stream.Config{})
	orgs := []string{fr, be, uk}
	clients := make([]*client, subs)
	for i := range clients {
		clients[i] = f.open(t, orgs[i%len(orgs)], "", nil)
	}
	var want []string
	for n := 1; n <= objects; n++ {
		want = append(want, id(n))
	}

	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			org := orgs[i%len(orgs)]
			var last uint64
			for k := 0; k < objects; k++ {
				if i%10 == 0 && k == objects/2 {
					// Away, then back: resume after the last event received.
					c.close()
					resp, cancel, err := f.request(org, "", map[string]string{"Last-Event-ID": strconv.FormatUint(last, 10)})
					if err != nil || resp.StatusCode != 200 {
						t.Errorf("subscriber %d: reconnect: %v", i, err)
						return
					}
					c = &client{resp: resp, cancel: cancel, frames: make(chan frame, 1024)}
					defer c.close()
					go c.read()
				}
				fr, err := nextObject(c, 20*time.Second)
				if err != nil {
					t.Errorf("subscriber %d, object %d of %d: %v", i, k+1, objects, err)
					return
				}
				var d objectData
				var o struct{ ID string }
				if err := json.Unmarshal([]byte(fr.Data), &d); err != nil {
					t.Errorf("subscriber %d: %v", i, err)
					return
				}
				json.Unmarshal(d.Object, &o)
				if o.ID != want[k] || d.Seq <= last {
					t.Errorf("subscriber %d: object %d is %s (Seq %d after %d), want %s", i, k, o.ID, d.Seq, last, want[k])
					return
				}
				last = d.Seq
			}
		})
	}
	for n := 1; n <= objects; n += 50 {
		f.ingest(t, fr, "community", hub.TLPGreen, nil, n, n+50)
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i, c := range clients {
		if i%10 != 0 {
			c.quiet(t, 10*time.Millisecond) // no duplicate after the last
		}
	}
	t.Logf("%d subscribers (%d resumed halfway) × %d objects: %d frames in %v, %.0f frames/s delivered",
		subs, (subs+9)/10, objects, subs*objects, elapsed.Round(time.Millisecond), float64(subs*objects)/elapsed.Seconds())
}

// nextObject returns c's next object frame.
func nextObject(c *client, timeout time.Duration) (frame, error) {
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return f, errStreamEnded
			}
			if f.Event == "object" {
				return f, nil
			}
			if f.Event != "" {
				return f, errUnexpected(f.Event)
			}
		case <-deadline:
			return frame{}, errTimeout
		}
	}
}

type streamError string

func (e streamError) Error() string { return string(e) }

const (
	errStreamEnded = streamError("stream ended")
	errTimeout     = streamError("timed out")
)

func errUnexpected(event string) error { return streamError("unexpected event " + event) }
