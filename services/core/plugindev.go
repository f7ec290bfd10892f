package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/natsperm"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
	"github.com/authbus/authbus/services/core/internal/runtime/pluginctl"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
)

// The plugin developer's CLI (`authbus plugin check|list`) needs the
// runtime's admission code and registry format, which cmd/authbus cannot
// import (they are internal); these expose them.

// PluginRecord is one plugin's entry in the registry bucket, as the core writes it.
type PluginRecord = registry.Record

// PluginInstance is one running process of a plugin in a PluginRecord.
type PluginInstance = registry.Instance

// PluginState is a plugin's state in the registry (active, degraded, waiting, down, refused, stopped).
type PluginState = registry.State

// PluginAdmission is the outcome of checking a manifest as a registration:
// the problems the core would refuse it with, or the permissions granted
// and the effective config.
type PluginAdmission = registry.Admission

// PluginRegistryBucket is the name of the registry KV bucket of the
// installation with subject prefix prefix ("authbus-plugins" without one).
func PluginRegistryBucket(prefix string) string { return natsperm.RegistryBucket(prefix) }

// ReadPluginRegistry returns every record of the registry bucket kv, sorted
// by plugin id. A record that does not decode (written by a newer core, or
// damaged) is returned with only its id and a reason saying so.
func ReadPluginRegistry(ctx context.Context, kv jetstream.KeyValue) ([]PluginRecord, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("read plugin registry %s: %w", kv.Bucket(), err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	var recs []PluginRecord
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, fmt.Errorf("read plugin registry %s: %s: %w", kv.Bucket(), k, err)
		}
		var rec PluginRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			rec = PluginRecord{ID: k, Reasons: []contracts.Problem{{Field: "record",
				Message: "the registry record does not decode (written by another core version?): " + err.Error()}}}
		}
		if rec.ID == "" {
			rec.ID = k
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b PluginRecord) int { return strings.Compare(a.ID, b.ID) })
	return recs, nil
}

// PluginAdmitOptions say what AdmitPlugin checks a manifest against.
type PluginAdmitOptions struct {
	// PluginsFile is the operator's plugin configuration (default: the
	// permissive configuration of `authbus dev`, which enables every plugin
	// and grants every permission it asks for).
	PluginsFile string
	// CoreVersion is the core version coreVersion is checked against
	// (default buildinfo.CoreVersion, this build's).
	CoreVersion string
	// Peers are other plugins taken as registered and active, for
	// dependencies and conflicts (default none).
	Peers []contracts.Manifest
}

// AdmitPlugin checks manifest m as the core checks a registration, with
// the same code (the registry's Admit): the manifest, the operator's
// configuration (enabled, permissions granted, config against the schema
// with defaults), coreVersion, dependencies, conflicts and cycles. It also
// returns a description of the operator configuration used.
func AdmitPlugin(m contracts.Manifest, o PluginAdmitOptions) (PluginAdmission, string, error) {
	op := operator.Dev()
	if o.PluginsFile != "" {
		var err error
		if op, err = operator.Load(o.PluginsFile); err != nil {
			return PluginAdmission{}, "", err
		}
	}
	if o.CoreVersion == "" {
		o.CoreVersion = buildinfo.CoreVersion
	}
	peers := map[string]registry.Peer{}
	for _, p := range o.Peers {
		if p.ID != m.ID {
			peers[p.ID] = registry.Peer{Manifest: p, State: registry.StateActive}
		}
	}
	return registry.Admit(m, op, peers, o.CoreVersion), op.Source, nil
}

// LoadPluginManifests reads every *.json file under dir (recursively) as a
// plugin manifest, as `authbus plugin validate-config --manifests` does.
func LoadPluginManifests(dir string) ([]contracts.Manifest, error) {
	return pluginctl.LoadManifests(dir)
}
