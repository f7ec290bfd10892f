package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core"
)

// registryRecords are records as the core's runtime writes them (its own
// type, re-exported), one per state worth showing.
func registryRecords(now time.Time) []core.PluginRecord {
	hb := now.Add(-3 * time.Second)
	return []core.PluginRecord{
		{ID: "audit", Name: "Audit", Version: "1.2.0", State: "active", LastHeartbeat: hb, UpdatedAt: now,
			Instances: []core.PluginInstance{{ID: "i1", Version: "1.2.0", LastHeartbeat: hb.Add(-time.Second)}, {ID: "i2", Version: "1.2.0", LastHeartbeat: hb}}},
		{ID: "orgs", Name: "Organizations", Version: "0.3.0", State: "waiting", WaitingOn: []string{"audit"}, LastHeartbeat: now.Add(-90 * time.Second),
			UpdatedAt: now, Instances: []core.PluginInstance{{ID: "i3", Version: "0.3.0", LastHeartbeat: now.Add(-90 * time.Second)}}},
		{ID: "spam", Name: "Spam", Version: "0.1.0", State: "refused", UpdatedAt: now, Instances: []core.PluginInstance{},
			Reasons: []contracts.Problem{{Field: "permissions[0]", Message: `"user:write" is not granted by the operator`},
				{Field: "coreVersion", Message: "the plugin needs core ^2.0.0"}}},
		{ID: "billing", Name: "Billing", Version: "2.0.0", State: "down", UpdatedAt: now, Instances: []core.PluginInstance{}},
	}
}

func TestWriteRegistryTable(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	writeRegistryTable(&out, registryRecords(now), now)
	require.Equal(t, strings.Join([]string{
		"ID       VERSION  STATE    INSTANCES  LAST HEARTBEAT  REASONS",
		"audit    1.2.0    active   2          3s ago          -",
		"orgs     0.3.0    waiting  1          1m30s ago       waiting on audit",
		`spam     0.1.0    refused  0          -               permissions[0]: "user:write" is not granted by the operator; coreVersion: the plugin needs core ^2.0.0`,
		"billing  2.0.0    down     0          -               -",
		""}, "\n"), out.String())
}

func TestPluginList(t *testing.T) {
	srv, nc := bustest.RunJetStream(t)
	js := bustest.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	put := func(prefix string, recs []core.PluginRecord) jetstream.KeyValue {
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: core.PluginRegistryBucket(prefix), History: 1})
		require.NoError(t, err)
		for _, r := range recs {
			b, err := json.Marshal(r)
			require.NoError(t, err)
			_, err = kv.Put(ctx, r.ID, b)
			require.NoError(t, err)
		}
		return kv
	}
	url := srv.ClientURL()

	_, _, err := runCLI(t, "plugin", "list", "--nats-url", url)
	require.ErrorContains(t, err, "no plugin registry on")
	require.ErrorContains(t, err, "authbus-plugins does not exist")

	empty := put("", nil)
	require.Contains(t, mustRun(t, "plugin", "list", "--nats-url", url), "no plugin has registered")

	recs := registryRecords(time.Now())
	put("", recs)
	_, err = empty.Put(ctx, "zombie", []byte("{not json"))
	require.NoError(t, err)
	out := mustRun(t, "plugin", "list", "--nats-url", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 6, out)
	require.Regexp(t, `^ID\s+VERSION\s+STATE\s+INSTANCES\s+LAST HEARTBEAT\s+REASONS$`, lines[0])
	require.Regexp(t, `^audit\s+1\.2\.0\s+active\s+2\s+\d+s ago\s+-$`, lines[1])
	require.Regexp(t, `^billing\s+2\.0\.0\s+down\s+0\s+-\s+-$`, lines[2])
	require.Regexp(t, `^orgs\s+0\.3\.0\s+waiting\s+1\s+1m3\ds ago\s+waiting on audit$`, lines[3])
	require.Regexp(t, `^spam\s+0\.1\.0\s+refused\s+0\s+-\s+permissions\[0\]: "user:write" is not granted by the operator; coreVersion: `, lines[4])
	require.Regexp(t, `^zombie\s+-\s+\?\s+0\s+-\s+record: the registry record does not decode`, lines[5])

	out = mustRun(t, "plugin", "list", "--nats-url", url, "--json")
	var got []core.PluginRecord
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got, 5)
	want, err := json.Marshal(recs[0])
	require.NoError(t, err)
	gotAudit, err := json.Marshal(got[0])
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(gotAudit))

	// Another installation on the same NATS, under a subject prefix.
	put("acme", recs[:1])
	out = mustRun(t, "plugin", "list", "--nats-url", url, "--prefix", "acme")
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2, out)
	t.Setenv("AUTHBUS_NATS_URL", url)
	t.Setenv("AUTHBUS_SUBJECT_PREFIX", "acme")
	require.Equal(t, out, mustRun(t, "plugin", "list"), "the connection comes from the environment")
}

func TestPluginListCannotReachNATS(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	start := time.Now()
	_, _, err = runCLI(t, "plugin", "list", "--nats-url", "nats://"+addr, "--timeout", "2s")
	require.ErrorContains(t, err, "cannot reach NATS")
	require.Less(t, time.Since(start), 30*time.Second, "fails instead of retrying forever")

	_, _, err = runCLI(t, "plugin", "list", "--nats-url", "http://"+addr)
	require.ErrorContains(t, err, "scheme must be nats")
	_, _, err = runCLI(t, "plugin", "list", "extra")
	require.ErrorIs(t, err, errUsage)
}
