package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/actorlog/actorlog/api/wire"
)

// clusterCmd prints GET /cluster of a running node: the members, the
// shards' owners, the stream's copies and the node's figures.
func (ap *app) clusterCmd(args []string, stdout, stderr io.Writer) error {
	c := ap.newCommon("cluster", stdout, stderr)
	c.fs.Lookup("server").Usage = "URL of a running node of the cluster, such as http://localhost:3001 (required)"
	if _, err := c.parse(args, 0, 0, "--server URL [--json]"); err != nil {
		return err
	}
	if c.server == "" {
		return c.usageErr("cluster reads a running node: give --server URL")
	}
	r, err := newRemote(c.server, c.token)
	if err != nil {
		return c.usageErr("%v", err)
	}
	var st wire.Cluster
	if err := r.get(c.ctx, "/cluster", nil, &st); err != nil {
		return err
	}
	if c.json {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	printCluster(stdout, &st)
	return nil
}

func printCluster(w io.Writer, st *wire.Cluster) {
	fmt.Fprintf(w, "cluster as %s sees it: %d nodes, %d shards (%d with an owner), lease TTL %s\n\n",
		escape(st.Node), len(st.Members), st.Shards, len(st.Owners), escape(st.LeaseTTL))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSHARDS\tURL\tSTARTED")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", escape(m.Node), m.Shards, escape(m.URL), escape(m.Started))
	}
	tw.Flush()
	if s := st.Stream; s != nil {
		fmt.Fprintln(w)
		if s.Error != "" {
			fmt.Fprintf(w, "stream: the servers did not say: %s\n", escape(s.Error))
		} else {
			leader := s.Leader
			if leader == "" {
				leader = "none (electing, or a single server)"
			}
			fmt.Fprintf(w, "stream %s: %d messages, %d bytes, leader %s\n", escape(s.Name), s.Messages, s.Bytes, escape(leader))
			if len(s.Replicas) > 0 {
				tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVER\tROLE\tCURRENT\tLAG\tLAST HEARD")
				for _, r := range s.Replicas {
					role, heard := "replica", fmt.Sprintf("%dms ago", r.ActiveMs)
					if r.Leader {
						role, heard = "leader", "-"
					}
					if r.Offline {
						role += " (offline)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%s\n", escape(r.Server), role, r.Current, r.Lag, heard)
				}
				tw.Flush()
			}
		}
	}
	if len(st.Owners) > 0 {
		fmt.Fprintln(w)
		var b strings.Builder
		for i, o := range st.Owners {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%d:%s", o.Shard, o.Node)
		}
		fmt.Fprintf(w, "owners: %s\n", escape(b.String()))
	}
	s := st.Stats
	fmt.Fprintf(w, "\n%s: owns %d shards; took %d, lost or released %d (%d handed over to the node they belong on); ran %d here, forwarded %d (retried %d, failed %d); served %d for others\n",
		escape(st.Node), s.Owned, s.Acquired, s.Dropped, s.HandedOver, s.Local, s.Forwarded, s.ForwardRetries, s.ForwardFailed, s.Served)
}
