//go:build unix

package cli

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
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
