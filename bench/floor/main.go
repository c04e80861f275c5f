// Command floor measures the least server CPU a durable webhook relay can spend per
// event on this machine, the floor under Herald's "server CPU per delivery".
//
// A child process relays: it accepts each event as an HTTP POST, appends it to a file
// and fsyncs before it answers (what "accepted means committed" costs at the least;
// events waiting together share one fsync), then queues it to be sent on with one HTTP
// POST to a receiver in this process, 8 at a time (the answer waits for the queue only
// when 65,536 events are waiting). It signs nothing, stores no attempt, and looks
// nothing up: every real relay does all of this and more. Its file is in the temporary
// directory, as bench's databases are. The child's CPU, from getrusage, is read over a
// run paced at 100 events/s, one as fast as 8 publishers of single events go, and one
// of batches of 1,000 events. With -fsync=false the relay writes without syncing, which
// tells the fsync's share.
//
//	go run ./bench/floor [-duration 10s] [-fsync=false]
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 5 && os.Args[1] == "relay" {
		relay(os.Args[2], os.Args[3], os.Args[4] == "true")
		return
	}
	duration := flag.Duration("duration", 10*time.Second, "how long each run publishes")
	fsync := flag.Bool("fsync", true, "sync each group of appended events before answering")
	flag.Parse()
	if err := run(*duration, *fsync); err != nil {
		log.Fatal(err)
	}
}

// relay serves the child's two endpoints until it is killed: POST /events, one event
// a line, appended to a file in dir, and GET /cpu, its CPU time so far in microseconds.
func relay(target, dir string, fsync bool) {
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	appends := make(chan appendReq, 1024)
	go groupCommit(f, fsync, appends)
	// 8 senders, as Herald sends at most 8 requests to one endpoint at a time.
	outbox := make(chan []byte, 1<<16)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for range 8 {
		go func() {
			for event := range outbox {
				resp, err := client.Post(target, "application/json", bytes.NewReader(event))
				if err != nil {
					log.Print(err)
					continue
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck // drained for reuse only
				resp.Body.Close()
			}
		}()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		done := make(chan error, 1)
		body = append(bytes.TrimRight(body, "\n"), '\n')
		appends <- appendReq{body, done}
		if err := <-done; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		for event := range bytes.Lines(body) { // a batch holds one event a line
			outbox <- event
		}
	})
	mux.HandleFunc("GET /cpu", func(w http.ResponseWriter, _ *http.Request) {
		var u syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		us := u.Utime.Sec*1e6 + u.Utime.Usec + u.Stime.Sec*1e6 + u.Stime.Usec
		fmt.Fprint(w, us)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Addr())
	log.Fatal(http.Serve(l, mux))
}

// appendReq is a record to append, and where to say it is on disk.
type appendReq struct {
	data []byte
	done chan<- error
}

// groupCommit is the single writer: it appends every record waiting, syncs once for all
// of them (unless told not to), and answers each, as a store's group commit does.
func groupCommit(f *os.File, fsync bool, appends <-chan appendReq) {
	for first := range appends {
		group := []appendReq{first}
		for len(appends) > 0 {
			group = append(group, <-appends)
		}
		var buf []byte
		for _, a := range group {
			buf = append(buf, a.data...)
		}
		_, err := f.Write(buf)
		if err == nil && fsync {
			err = f.Sync()
		}
		for _, a := range group {
			a.done <- err
		}
	}
}

// run starts the receiver and the relay, and prints the relay's CPU per event at 100
// events/s and at full speed.
func run(duration time.Duration, fsync bool) error {
	var received atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck // the count is what matters
		received.Add(1)
	}))
	defer rcv.Close()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "floor")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(self, "relay", rcv.URL, dir, strconv.FormatBool(fsync))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Kill() // ends the child whatever happened
		_ = cmd.Wait()         // killed: its error says so
	}()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("relay did not start: %w", err)
	}
	base := "http://" + strings.TrimSpace(addr)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	event := []byte(`{"type":"drift.detected","data":{"resource_id":"i-0abc123","severity":"high"}}` + "\n")
	single, batch := event, bytes.Repeat(event, 1000)
	post := func(body []byte) error {
		resp, err := client.Post(base+"/events", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // drained for reuse only
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("publish: %s", resp.Status)
		}
		return nil
	}
	cpu := func() (time.Duration, error) {
		resp, err := client.Get(base + "/cpu")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		us, err := strconv.ParseInt(string(b), 10, 64)
		return time.Duration(us) * time.Microsecond, err
	}
	measure := func(name string, send func() (int, error)) error {
		if err := post(single); err != nil { // a warm connection
			return err
		}
		time.Sleep(100 * time.Millisecond)
		received.Store(0)
		before, err := cpu()
		if err != nil {
			return err
		}
		start := time.Now()
		n, err := send()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for received.Load() < int64(n) {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: the receiver got %d of %d", name, received.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		after, err := cpu()
		if err != nil {
			return err
		}
		fmt.Printf("%-26s %7d events  %8.0f events/s  relay CPU %.3f ms per event\n", name, n,
			float64(n)/elapsed.Seconds(), float64((after-before).Microseconds())/1000/float64(n))
		return nil
	}
	err = measure("100 events/s", func() (int, error) {
		n := int(100 * duration.Seconds())
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range n {
			<-tick.C
			if err := post(single); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	if err != nil {
		return err
	}
	err = measure("full speed, 8 publishers", func() (int, error) { return flood(8, duration, single, 1, post) })
	if err != nil {
		return err
	}
	return measure("batches of 1,000", func() (int, error) { return flood(1, duration, batch, 1000, post) })
}

// flood posts body from publishers goroutines until duration has passed, and returns
// how many events went, each body holding perBody.
func flood(publishers int, duration time.Duration, body []byte, perBody int, post func([]byte) error) (int, error) {
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := post(body); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(int64(perBody))
			}
		})
	}
	wg.Wait()
	return int(n.Load()), firstErr
}
