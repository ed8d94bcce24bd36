// Package jetstream is the event log on a NATS JetStream stream: a second
// implementation of the storage contract of package eventlog (Store), for
// a log replicated by JetStream's own Raft across servers.
package jetstream
