// Package outbox relays the core's committed events from the store's outbox
// to the JetStream stream AUTH_EVENTS (DESIGN.md §2 "What we promise",
// nats-notes.md §8).
//
// Every core replica runs a Relay; only the holder of the store's relay lock
// (a Postgres advisory lock, or a file lock next to the SQLite database)
// publishes, and a standby takes over when the lock is released or lost.
// The active relay reads unpublished events in commit order (store
// FetchOutbox), publishes them with async publishes, at most Window
// awaiting acknowledgement, each with Nats-Msg-Id = event id, and marks the
// acknowledged prefix published. It is woken by Notify after a commit in
// this process, and polls every PollInterval for the rest.
//
// Publish errors are ambiguous: a publish reported as failed may have been
// stored (on a disconnect every pending acknowledgement fails, stored or
// not). So a batch stops at its first failure and, after a capped,
// jittered back-off, the same events are sent again with the same ids, for
// as long as NATS is away; the stream's duplicate window stores each id
// once. Events therefore reach the stream at least once and, as long as
// retries happen within the duplicate window, exactly once.
//
// Order: the stream receives events in commit order, resent events being
// absorbed as duplicates. Three things keep it so: the relay's connection
// has no reconnect buffer (ConnectOption), so nothing published while it
// is down can reach the stream after reconnecting ahead of an earlier event
// sent again; nats.go's hidden retry of a publish that found no stream is
// off; and after a failure or a reconnection one event goes alone before
// the window opens again. What remains: if the stream rejects one event in
// the middle of a window while it accepts the later ones (e.g. a stream
// leader change in a cluster), the rejected one is stored after them when
// resent. Consumers never depend on order across redeliveries anyway.
//
// Published events are kept RetentionDays, pruned by the active relay, so
// that Replay (`authbus events replay`) can publish them again.
package outbox
