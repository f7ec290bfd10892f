// Package pluginctl is the offline side of the plugin runtime, behind
// `authbus plugin validate-config` and `authbus plugin nats-config`: it
// checks an operator configuration (and manifests) with the same code the
// core runs at registration, and renders the plugins' NATS users.
package pluginctl

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/natsperm"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
	"github.com/authbus/authbus/services/core/internal/runtime/registry"
)

// ErrInvalid is returned when a check found problems (already printed).
var ErrInvalid = errors.New("the plugin configuration has problems")

// LoadManifests reads every *.json file under dir (recursively) as a manifest.
func LoadManifests(dir string) ([]contracts.Manifest, error) {
	var out []contracts.Manifest
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m, err := contracts.ParseManifest(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			return nil
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// admitAll checks each manifest as if the others were registered and active.
func admitAll(op *operator.Config, manifests []contracts.Manifest) map[string]registry.Admission {
	peers := map[string]registry.Peer{}
	for _, m := range manifests {
		peers[m.ID] = registry.Peer{Manifest: m, State: registry.StateActive}
	}
	out := map[string]registry.Admission{}
	for _, m := range manifests {
		out[m.ID] = registry.Admit(m, op, peers, buildinfo.CoreVersion)
	}
	return out
}

// ValidateConfig checks the operator configuration at path and, when
// manifestsDir is set, each manifest in it against that configuration (as
// the core would at registration, with the other manifests' plugins
// registered). It prints a report to w and returns ErrInvalid when
// anything would be refused.
func ValidateConfig(w io.Writer, path, manifestsDir string) error {
	op, err := operator.Load(path)
	if err != nil {
		fmt.Fprintln(w, err)
		return ErrInvalid
	}
	fmt.Fprintf(w, "%s: %d plugin(s) configured", path, len(op.Plugins))
	if op.Dev {
		fmt.Fprint(w, " (dev: unlisted plugins are enabled with every permission they ask for — never in production)")
	}
	fmt.Fprintln(w)
	if manifestsDir == "" {
		return nil
	}
	manifests, err := LoadManifests(manifestsDir)
	if err != nil {
		fmt.Fprintln(w, err)
		return ErrInvalid
	}
	bad := false
	seen := map[string]bool{}
	for _, m := range manifests {
		seen[m.ID] = true
	}
	adm := admitAll(op, manifests)
	for _, m := range manifests {
		a := adm[m.ID]
		if len(a.Problems) == 0 {
			fmt.Fprintf(w, "ok      %s %s\n", m.ID, m.Version)
			continue
		}
		bad = true
		fmt.Fprintf(w, "REFUSED %s %s\n", m.ID, m.Version)
		for _, p := range a.Problems {
			fmt.Fprintf(w, "        %s\n", p)
		}
	}
	for _, id := range op.IDs() {
		if !seen[id] {
			fmt.Fprintf(w, "note    %s is configured but has no manifest in %s\n", id, manifestsDir)
		}
	}
	if bad {
		return ErrInvalid
	}
	return nil
}

// NATSConfigOptions say what `authbus plugin nats-config` renders.
type NATSConfigOptions struct {
	// ConfigPath is the operator configuration file (required).
	ConfigPath string
	// ManifestsDir, if set, narrows each plugin's grants to what its
	// manifest asks for, and adds dev-enabled plugins found there.
	ManifestsDir string
	// Prefix is the installation's subject prefix.
	Prefix string
	// Stream is the events stream (default AUTH_EVENTS).
	Stream string
	// CoreUser and CorePassword add the core's own user (skipped when CoreUser is empty).
	CoreUser, CorePassword string
}

// NATSConfig writes the nats-server authorization block for the enabled plugins.
func NATSConfig(w io.Writer, o NATSConfigOptions) error {
	op, err := operator.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	accounts := map[string]natsperm.Account{}
	for _, id := range op.IDs() {
		p := op.Plugins[id]
		if !p.IsEnabled() {
			continue
		}
		accounts[id] = natsperm.Account{PluginID: id, User: p.NATSUser(id), Password: p.NATS.Password, Granted: p.Permissions}
	}
	if o.ManifestsDir != "" {
		manifests, err := LoadManifests(o.ManifestsDir)
		if err != nil {
			return err
		}
		adm := admitAll(op, manifests)
		for _, m := range manifests {
			a := adm[m.ID]
			if len(a.Problems) > 0 {
				delete(accounts, m.ID)
				fmt.Fprintf(w, "# %s is left out: the core would refuse it (%d problem(s); run `authbus plugin validate-config`)\n", m.ID, len(a.Problems))
				continue
			}
			acc := accounts[m.ID]
			p, _, _ := op.Entry(m.ID)
			acc.PluginID, acc.User, acc.Password, acc.Granted = m.ID, p.NATSUser(m.ID), p.NATS.Password, a.Granted
			accounts[m.ID] = acc
		}
	}
	ids := make([]string, 0, len(accounts))
	for id := range accounts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	list := make([]natsperm.Account, 0, len(ids))
	for _, id := range ids {
		list = append(list, accounts[id])
	}
	_, err = io.WriteString(w, natsperm.Config(natsperm.Options{Prefix: o.Prefix, Stream: o.Stream}, o.CoreUser, o.CorePassword, list))
	return err
}
