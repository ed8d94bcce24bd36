//go:build unix

package cli

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actorlog/actorlog/eventlog/jetstream/jetstreamtest"
	"github.com/gorilla/websocket"
)

// serveTestCluster runs three `actorlog serve` processes as a cluster,
// each with its NATS JetStream server embedded (--nats-listen,
// --nats-cluster, --nats-routes): increments through every node in turn
// answer the next count; then the first node is killed with SIGKILL (its
// NATS server with it), and increments through the others, retried with
// the same idempotency key until they succeed, go on from the count it
// left. Afterwards the actor's history is dense and holds exactly the
// acknowledged increments.
func serveTestCluster(t *testing.T, bin string) {
	start := time.Now()
	nodes := serveClusterStart(t, bin, "3s")
	procs := []*serveProc{nodes[0].serveProc, nodes[1].serveProc, nodes[2].serveProc}
	t.Logf("three nodes up in %v", time.Since(start).Round(time.Millisecond))

	var c serveCount
	for i := range 12 {
		procs[i%3].call("POST", "/rpc/counter:clustered/increment", "", &c)
		if c.Count != int64(i+1) {
			t.Fatalf("increment %d through n%d: count %d, want %d", i, i%3+1, c.Count, i+1)
		}
	}
	acked := int64(12)

	// `actorlog cluster` through one node lists the three, with the URLs
	// they reach each other at, and the stream's three copies.
	out, err := exec.Command(bin, "cluster", "--server", procs[1].url).CombinedOutput()
	if err != nil {
		t.Fatalf("actorlog cluster: %v\n%s", err, out)
	}
	for _, want := range []string{"cluster as n2 sees it: 3 nodes", procs[0].url, procs[2].url, "leader", "replica"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("actorlog cluster does not say %q:\n%s", want, out)
		}
	}

	// A WebSocket through each node gets the events of calls made
	// through the others.
	var socks []*websocket.Conn
	for _, p := range procs {
		ws, err := p.dialWS("/ws/counter/clustered")
		if err != nil {
			t.Fatal(err)
		}
		if f, err := serveReadFrame(ws); err != nil || f["type"] != "init" || f["seq"] != float64(acked) {
			t.Fatalf("first frame through %s: %v %v", p.url, f, err)
		}
		socks = append(socks, ws)
	}
	for i := range 3 {
		procs[i].call("POST", "/rpc/counter:clustered/increment", "", &c)
		acked++
		for j, ws := range socks {
			if f, err := serveReadFrame(ws); err != nil || f["seq"] != float64(acked) {
				t.Fatalf("socket through %s after an increment through %s: %v %v", procs[j].url, procs[i].url, f, err)
			}
		}
	}
	for _, ws := range socks {
		ws.Close()
	}

	killed := time.Now()
	if err := procs[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procs[0].done
	var firstOK time.Duration
	for i := range 12 {
		p := procs[1+i%2]
		key := fmt.Sprintf("after-kill-%d", i)
		for {
			req, _ := http.NewRequest("POST", p.url+"/rpc/counter:clustered/increment", nil)
			req.Header.Set("Idempotency-Key", key)
			res, err := p.client.Do(req)
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
				err = fmt.Errorf("status %d", res.StatusCode)
			}
			if time.Since(killed) > 45*time.Second {
				t.Fatalf("increment %s through %s still failing 45s after the kill: %v", key, p.url, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if firstOK == 0 {
			firstOK = time.Since(killed)
		}
		acked++
	}
	t.Logf("n1 killed: the first increment after it succeeded %v later", firstOK.Round(time.Millisecond))
	procs[1].call("POST", "/rpc/counter:clustered/getCount", "", &c)
	if c.Count != acked {
		t.Fatalf("count after the kill = %d, want the %d acknowledged increments", c.Count, acked)
	}
	if h := procs[2].history("counter", "clustered"); int64(len(h)) != acked {
		t.Fatalf("history holds %d events, want %d", len(h), acked)
	}
	for _, p := range procs[1:] {
		p.stop(syscall.SIGTERM, 30*time.Second)
	}
	t.Logf("cluster test took %v", time.Since(start).Round(time.Millisecond))
}

// serveClusterNode is one node of a test cluster: its flags and data
// directory, so that it restarts as it was, and its process.
type serveClusterNode struct {
	name string
	nats string // its NATS server's client URL
	args []string
	*serveProc
}

// serveClusterStart starts three `actorlog serve` processes as a
// cluster on loopback, each with its NATS JetStream server embedded, on
// free ports and in temporary directories, with the lease TTL given, and
// waits for their startup lines.
func serveClusterStart(t *testing.T, bin, leaseTTL string) []*serveClusterNode {
	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	var clientPorts, routePorts [3]int
	var routes []string
	for i := range 3 {
		clientPorts[i], routePorts[i] = free(), free()
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i]))
	}
	var nodes []*serveClusterNode
	for i := range 3 {
		n := &serveClusterNode{
			name: fmt.Sprintf("n%d", i+1),
			nats: fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]),
		}
		n.args = []string{"serve", "--port", "0", "--data", t.TempDir(), "--node", n.name,
			"--nats-listen", fmt.Sprintf("127.0.0.1:%d", clientPorts[i]),
			"--nats-cluster", fmt.Sprintf("127.0.0.1:%d", routePorts[i]),
			"--nats-routes", strings.Join(routes, ","), "--lease-ttl", leaseTTL}
		n.launch(t, bin)
		nodes = append(nodes, n)
	}
	// A cluster's first start waits for its peers: up to a minute.
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range nodes {
		n.waitListening(deadline)
	}
	return nodes
}

// launch starts the node's process, which a cleanup kills; its url is
// set by waitListening.
func (n *serveClusterNode) launch(t *testing.T, bin string) {
	p := &serveProc{
		t:      t,
		cmd:    exec.Command(bin, n.args...),
		stdout: &serveOutput{},
		stderr: &serveOutput{},
		done:   make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second}, // a request stuck in a failover is retried elsewhere
	}
	p.cmd.Env = append(os.Environ(), "PORT=", "ACTORLOG_TOKEN=")
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGCONT) // if the test left it stopped
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			out := p.stderr.String()
			if len(out) > 3000 {
				out = "..." + out[len(out)-3000:]
			}
			t.Logf("%s (pid %d, %v): serve's stderr:\n%s", n.name, p.cmd.Process.Pid, p.cmd.ProcessState, out)
		}
	})
	n.serveProc = p
}

// waitListening waits for the startup line and sets the node's url.
func (n *serveClusterNode) waitListening(deadline time.Time) {
	p := n.serveProc
	p.t.Helper()
	for p.url == "" {
		if m := serveListenRE.FindStringSubmatch(p.stdout.String()); m != nil {
			p.url = m[1]
			break
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited before listening: %v\nstderr: %s", n.name, p.cmd.ProcessState, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no startup line in time\nstderr: %s", n.name, p.stderr)
		}
	}
}

// TestImportNATS_Serve moves a single-node store into a cluster as the
// README says: `actorlog export --all --data DIR | actorlog import --nats
// URL`, two processes of the built binary over a pipe, into an embedded
// JetStream server; then `actorlog serve --cluster URL` on that server
// answers the imported counters' state and histories.
func TestImportNATS_Serve(t *testing.T) {
	bin := serveBuild(t)
	src := fixtureDir(t)
	srv := jetstreamtest.StartT(t, 1)
	url := srv.URL()

	export := exec.Command(bin, "export", "--all", "--data", src)
	imp := exec.Command(bin, "import", "--nats", url)
	var exportErr, impOut, impErr bytes.Buffer
	export.Stderr = &exportErr
	imp.Stdout, imp.Stderr = &impOut, &impErr
	pipe, err := export.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	if err := export.Start(); err != nil {
		t.Fatal(err)
	}
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	ierr := imp.Wait()
	if err := export.Wait(); err != nil {
		t.Fatalf("export: %v\n%s", err, &exportErr)
	}
	if ierr != nil {
		t.Fatalf("import: %v\n%s", ierr, &impErr)
	}
	if got, want := impOut.String(), "imported 20 events of 4 actors into "+url+"\n"; got != want {
		t.Fatalf("import printed %q, want %q", got, want)
	}

	p := serveStart(t, bin, t.TempDir(), "--cluster", url, "--node", "n1")
	for key, want := range map[string]int64{"default": 6, "other": 2} {
		var c serveCount
		p.call("POST", "/rpc/counter:"+key+"/getCount", "", &c)
		if c.Count != want {
			t.Errorf("counter:%s: count %d, want %d", key, c.Count, want)
		}
		p.call("GET", "/actors/counter/"+key+"/state", "", &c)
		if c.Count != want {
			t.Errorf("counter:%s state: count %d, want %d", key, c.Count, want)
		}
	}
	if h := p.history("counter", "default"); len(h) != 12 {
		t.Errorf("counter:default: %d events, want 12", len(h))
	}
	if h := p.history("chatRoom", "lobby"); len(h) != 5 {
		t.Errorf("chatRoom:lobby: %d events, want 5", len(h))
	}
	// The server goes on from the imported head.
	var c serveCount
	p.call("POST", "/rpc/counter:default/increment", "", &c)
	if c.Count != 7 {
		t.Errorf("increment after the import: count %d, want 7", c.Count)
	}
	if st := p.stop(syscall.SIGTERM, 30*time.Second); !st.Success() {
		t.Errorf("serve exited with %v\nstderr: %s", st, p.stderr)
	}
}
