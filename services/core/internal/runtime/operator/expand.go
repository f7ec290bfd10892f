package operator

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// envRef matches ${NAME} and ${NAME:-default}; "$${" is an escaped "${".
var envRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// LookupFunc finds an environment variable (os.LookupEnv in production).
type LookupFunc func(name string) (string, bool)

// expandString replaces every ${NAME} and ${NAME:-default} in s. A variable
// that is unset (or empty, for the :- form) takes its default; an unset
// variable without a default is an error naming it.
func expandString(s string, lookup LookupFunc) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		sub := envRef.FindStringSubmatch(m)
		name, hasDefault, def := sub[1], sub[2] != "", sub[3]
		v, ok := lookup(name)
		switch {
		case ok && (v != "" || !hasDefault):
			return v
		case hasDefault:
			return def
		}
		missing = append(missing, name)
		return m
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set and has no default (write ${%s:-default} to give one)",
			strings.Join(missing, ", "), missing[0])
	}
	if i := strings.Index(out, "${"); i >= 0 && !strings.Contains(s, "$${") {
		return "", fmt.Errorf("malformed variable reference %q: use ${NAME} or ${NAME:-default}", out[i:])
	}
	return out, nil
}

// expandNode expands variables in every scalar value of the YAML tree (not
// in mapping keys), so that a value cannot inject YAML structure. A plain
// (unquoted) scalar is re-typed after expansion, so `port: ${PORT}` becomes
// a number when PORT holds one; a quoted scalar stays a string.
func expandNode(n *yaml.Node, lookup LookupFunc) []error {
	var errs []error
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			errs = append(errs, expandNode(c, lookup)...)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			errs = append(errs, expandNode(n.Content[i], lookup)...)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		v, err := expandString(n.Value, lookup)
		if err != nil {
			return []error{fmt.Errorf("line %d: %w", n.Line, err)}
		}
		n.Value = v
		if n.Style == 0 {
			n.Tag = ""
		}
	}
	return errs
}
