package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/authbus/authbus/pkg/contracts"
	"github.com/authbus/authbus/services/core/internal/runtime/operator"
)

// Peer is another plugin as admission sees it.
type Peer struct {
	// Manifest is the peer's current manifest.
	Manifest contracts.Manifest
	// State is the peer's state.
	State State
}

// present reports whether a peer in state s counts as registered: it is
// neither refused nor stopped.
func present(s State) bool { return s != StateRefused && s != StateStopped && s != "" }

// up reports whether a peer in state s satisfies a required dependency.
func up(s State) bool { return s == StateActive || s == StateDegraded }

// Admission is the outcome of checking a manifest against the operator's
// configuration and the other plugins.
type Admission struct {
	// Config is the effective configuration (set when there are no problems).
	Config json.RawMessage
	// Granted lists the requested permissions the operator granted.
	Granted []contracts.Permission
	// Problems lists every reason to refuse, empty when admitted.
	Problems []contracts.Problem
	// Retryable is true when every problem is a required dependency that is
	// not registered yet.
	Retryable bool
	// WaitingOn lists required dependencies that are registered but not up:
	// the plugin is admitted and waits for them.
	WaitingOn []string
}

// Admit checks manifest m as the registration of plugin m.ID would: the
// manifest itself, the operator's configuration (enabled, config against
// its schema with defaults applied, every permission granted, the mount
// granted), coreVersion, required dependencies, conflicts in both
// directions, dependency cycles and the ranges other plugins require of m.
// peers are the other plugins the registry knows (an entry for m.ID itself
// is ignored). It reports every problem at once.
func Admit(m contracts.Manifest, op *operator.Config, peers map[string]Peer, coreVersion string) Admission {
	a := &admission{m: m, op: op, peers: peers}
	if err := m.Validate(); err != nil {
		var me *contracts.ManifestError
		if errors.As(err, &me) {
			a.problems = append(a.problems, me.Problems...)
		} else {
			a.add("manifest", "%v", err)
		}
	}
	enabled := a.operatorEntry()
	if enabled {
		a.permissions()
		a.config()
	}
	a.coreVersion(coreVersion)
	a.dependencies()
	a.conflicts()
	a.mountOverlap()
	a.cycle()
	a.dependents()

	out := Admission{Problems: a.problems, WaitingOn: a.waitingOn, Granted: a.granted}
	if len(a.problems) == 0 {
		out.Config = a.effective
		return out
	}
	out.Granted = nil
	out.Retryable = a.retryable == len(a.problems)
	return out
}

type admission struct {
	m         contracts.Manifest
	op        *operator.Config
	peers     map[string]Peer
	problems  []contracts.Problem
	retryable int
	waitingOn []string
	granted   []contracts.Permission
	effective json.RawMessage
}

func (a *admission) add(field, format string, args ...any) {
	a.problems = append(a.problems, contracts.Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// livePeers returns the present peers other than m itself, sorted by id.
func (a *admission) livePeers() []string {
	var ids []string
	for id, p := range a.peers {
		if id != a.m.ID && present(p.State) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (a *admission) operatorEntry() bool {
	if a.op == nil {
		a.add("id", "plugin %q is not enabled: the core has no plugin configuration", a.m.ID)
		return false
	}
	_, listed, enabled := a.op.Entry(a.m.ID)
	switch {
	case !listed && !enabled:
		a.add("id", "plugin %q is not enabled by the operator; add it under plugins: in %s", a.m.ID, a.op.Source)
		return false
	case !enabled:
		a.add("id", "plugin %q is disabled by the operator (plugins.%s.enabled: false in %s)", a.m.ID, a.m.ID, a.op.Source)
		return false
	}
	return true
}

func (a *admission) permissions() {
	granted, missing := a.op.Grants(a.m.ID, a.m.Permissions)
	a.granted = granted
	for _, p := range missing {
		i := slices.Index(a.m.Permissions, p)
		if prefix, arg, _ := p.Scope(); prefix == contracts.PermHTTPMount && arg == a.m.Mount {
			a.add("mount", "mounting routes under %s needs the permission %q, which the operator has not granted; add it to plugins.%s.permissions in %s",
				a.m.Mount, p, a.m.ID, a.op.Source)
			continue
		}
		a.add(fmt.Sprintf("permissions[%d]", i), "%q is not granted by the operator; add it to plugins.%s.permissions in %s",
			p, a.m.ID, a.op.Source)
	}
}

// config computes the effective configuration: the manifest's
// defaultConfig, the operator's values merged over it, the schema's
// defaults for what is still missing; then validates it against the schema.
func (a *admission) config() {
	var cfg map[string]any
	if len(a.m.DefaultConfig) > 0 {
		if err := json.Unmarshal(a.m.DefaultConfig, &cfg); err != nil {
			return // Validate already reported it.
		}
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	entry, _, _ := a.op.Entry(a.m.ID)
	if len(entry.Config) > 0 {
		var over map[string]any
		if err := json.Unmarshal(entry.Config, &over); err != nil {
			a.add("config", "the operator's configuration (plugins.%s.config in %s) is not an object: %v", a.m.ID, a.op.Source, err)
			return
		}
		cfg = mergeObjects(cfg, over)
	}
	var schema map[string]any
	if len(a.m.ConfigSchema) > 0 {
		if err := json.Unmarshal(a.m.ConfigSchema, &schema); err != nil || schema == nil {
			return // Validate already reported it.
		}
		applyDefaults(schema, cfg)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		a.add("config", "cannot encode the effective configuration: %v", err)
		return
	}
	if schema != nil {
		for _, p := range validateConfig(a.m.ConfigSchema, b) {
			if p.Field == "configSchema" {
				a.problems = append(a.problems, p)
				continue
			}
			a.add(p.Field, "%s (set it in plugins.%s.config in %s)", p.Message, a.m.ID, a.op.Source)
		}
	}
	a.effective = b
}

// mergeObjects returns base with over merged in: nested objects merge,
// everything else in over replaces base's value.
func mergeObjects(base, over map[string]any) map[string]any {
	for k, v := range over {
		bo, ok1 := base[k].(map[string]any)
		oo, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			base[k] = mergeObjects(bo, oo)
			continue
		}
		base[k] = v
	}
	return base
}

// applyDefaults fills missing properties of obj from the schema's
// "default" values, descending into nested object properties.
func applyDefaults(schema map[string]any, obj map[string]any) {
	props, _ := schema["properties"].(map[string]any)
	for name, raw := range props {
		sub, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		if _, has := obj[name]; !has {
			if d, ok := sub["default"]; ok {
				obj[name] = deepCopy(d)
			}
		}
		if child, ok := obj[name].(map[string]any); ok {
			applyDefaults(sub, child)
		}
	}
}

func deepCopy(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

var schemaPrinter = message.NewPrinter(language.English)

// validateConfig validates a configuration document against a JSON Schema
// (draft 2020-12 unless the schema says otherwise), one problem per failed
// leaf, with fields like "config.limits.max".
func validateConfig(schema, doc []byte) []contracts.Problem {
	sdoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return []contracts.Problem{{Field: "configSchema", Message: fmt.Sprintf("is not valid JSON: %v", err)}}
	}
	c := jsonschema.NewCompiler()
	const url = "urn:authbus:plugin-config-schema"
	if err := c.AddResource(url, sdoc); err != nil {
		return []contracts.Problem{{Field: "configSchema", Message: fmt.Sprintf("is not a usable JSON Schema: %v", err)}}
	}
	sch, err := c.Compile(url)
	if err != nil {
		return []contracts.Problem{{Field: "configSchema", Message: fmt.Sprintf("is not a valid JSON Schema: %v", err)}}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return []contracts.Problem{{Field: "config", Message: fmt.Sprintf("is not valid JSON: %v", err)}}
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []contracts.Problem{{Field: "config", Message: err.Error()}}
	}
	var out []contracts.Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			field := "config"
			for _, tok := range e.InstanceLocation {
				field += "." + tok
			}
			out = append(out, contracts.Problem{Field: field, Message: e.ErrorKind.LocalizedString(schemaPrinter)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

func (a *admission) coreVersion(core string) {
	r, err := contracts.ParseRange(a.m.CoreVersion)
	if err != nil {
		return // Validate already reported it.
	}
	v, err := contracts.ParseVersion(core)
	if err != nil {
		a.add("coreVersion", "the core's own version %q is not a semantic version", core)
		return
	}
	if !r.Satisfies(v) {
		a.add("coreVersion", "the plugin needs core %s but this core is %s; use a plugin version built for core %s",
			a.m.CoreVersion, core, core)
	}
}

// satisfies reports whether version meets the range (an empty range accepts all).
func satisfies(rng, version string) bool {
	if rng == "" {
		return true
	}
	r, err := contracts.ParseRange(rng)
	if err != nil {
		return false
	}
	v, err := contracts.ParseVersion(version)
	return err == nil && r.Satisfies(v)
}

func (a *admission) dependencies() {
	for i, ref := range a.m.Dependencies.Required {
		f := fmt.Sprintf("dependencies.required[%d]", i)
		p, ok := a.peers[ref.ID]
		switch {
		case ref.ID == a.m.ID || contracts.ValidatePluginID(ref.ID) != nil:
			continue // Validate already reported it.
		case !ok || !present(p.State):
			a.add(f, "required plugin %q is not registered; start it first (this registration may be retried)", ref.String())
			a.retryable++
		case !satisfies(ref.Version, p.Manifest.Version):
			a.add(f, "required plugin %q is registered at version %s, which is outside %q; deploy a matching version",
				ref.ID, p.Manifest.Version, ref.Version)
		case !up(p.State):
			a.waitingOn = append(a.waitingOn, ref.ID)
		}
	}
}

func (a *admission) conflicts() {
	for i, ref := range a.m.Dependencies.Conflicts {
		if p, ok := a.peers[ref.ID]; ok && ref.ID != a.m.ID && present(p.State) && satisfies(ref.Version, p.Manifest.Version) {
			a.add(fmt.Sprintf("dependencies.conflicts[%d]", i), "plugin %q (version %s) is registered, and this plugin conflicts with %q; stop one of them",
				ref.ID, p.Manifest.Version, ref.String())
		}
	}
	for _, id := range a.livePeers() {
		for _, ref := range a.peers[id].Manifest.Dependencies.Conflicts {
			if ref.ID == a.m.ID && satisfies(ref.Version, a.m.Version) {
				a.add("dependencies", "registered plugin %q declares a conflict with %q; stop one of them", id, ref.String())
			}
		}
	}
}

func (a *admission) mountOverlap() {
	if a.m.Mount == "" {
		return
	}
	for _, id := range a.livePeers() {
		other := a.peers[id].Manifest.Mount
		if other == "" {
			continue
		}
		if other == a.m.Mount || strings.HasPrefix(a.m.Mount, other+"/") || strings.HasPrefix(other, a.m.Mount+"/") {
			a.add("mount", "%s overlaps %s, mounted by plugin %q", a.m.Mount, other, id)
		}
	}
}

// graphEdges returns, for m and the present peers, the ids each depends on
// (required, and optional when present).
func (a *admission) graphEdges() map[string][]string {
	nodes := map[string]contracts.Manifest{a.m.ID: a.m}
	for _, id := range a.livePeers() {
		nodes[id] = a.peers[id].Manifest
	}
	return dependencyEdges(nodes)
}

// dependencyEdges maps each manifest's id to the ids among nodes it depends
// on (required and optional), sorted.
func dependencyEdges(nodes map[string]contracts.Manifest) map[string][]string {
	edges := make(map[string][]string, len(nodes))
	for id, m := range nodes {
		var deps []string
		for _, ref := range slices.Concat(m.Dependencies.Required, m.Dependencies.Optional) {
			if _, ok := nodes[ref.ID]; ok && ref.ID != id && !slices.Contains(deps, ref.ID) {
				deps = append(deps, ref.ID)
			}
		}
		sort.Strings(deps)
		edges[id] = deps
	}
	return edges
}

func (a *admission) cycle() {
	edges := a.graphEdges()
	var path []string
	onPath := map[string]bool{}
	done := map[string]bool{}
	var visit func(id string) []string
	visit = func(id string) []string {
		if onPath[id] {
			i := slices.Index(path, id)
			return append(slices.Clone(path[i:]), id)
		}
		if done[id] {
			return nil
		}
		onPath[id] = true
		path = append(path, id)
		for _, d := range edges[id] {
			if c := visit(d); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		onPath[id] = false
		done[id] = true
		return nil
	}
	if c := visit(a.m.ID); c != nil {
		a.add("dependencies", "dependency cycle: %s; remove one of these dependencies", strings.Join(c, " → "))
	}
}

func (a *admission) dependents() {
	for _, id := range a.livePeers() {
		for _, ref := range a.peers[id].Manifest.Dependencies.Required {
			if ref.ID == a.m.ID && !satisfies(ref.Version, a.m.Version) {
				a.add("version", "registered plugin %q requires %q, which version %s does not satisfy; upgrade %q first",
					id, ref.String(), a.m.Version, id)
			}
		}
	}
}
