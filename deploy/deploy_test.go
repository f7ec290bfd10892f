package deploy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/authbus/authbus/services/core"
)

// services maps each deployable to a pointer to its env config struct and
// its envconfig prefix. A new service adds one line here.
var services = map[string]struct {
	config any
	prefix string
}{
	"core": {&core.Config{}, core.EnvPrefix},
}

// infrastructure are compose services that are not ours.
var infrastructure = map[string]bool{"nats": true, "postgres": true}

// envVars lists the variables envconfig reads for cfg, exactly as envconfig names them.
func envVars(t *testing.T, prefix string, cfg any) map[string]bool {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, envconfig.Usagef(prefix, cfg, &buf, "{{range .}}{{usage_key .}}\n{{end}}"))
	out := map[string]bool{}
	for _, k := range strings.Fields(buf.String()) {
		out[k] = true
	}
	return out
}

type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

func TestComposeServicesHaveDockerfilesAndKnownVariables(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var cf composeFile
	require.NoError(t, yaml.Unmarshal(raw, &cf), "docker-compose.yml must be YAML with environment as a map")

	for name := range services {
		require.Contains(t, cf.Services, name, "service %s is not in docker-compose.yml", name)
	}
	for name, svc := range cf.Services {
		t.Run(name, func(t *testing.T) {
			if infrastructure[name] {
				require.NotEmpty(t, svc.Image, "infrastructure service %s needs an image", name)
				return
			}
			spec, ok := services[name]
			require.True(t, ok, "compose service %s is not a known authbus service; add it to services in deploy_test.go", name)
			require.NotNil(t, svc.Build, "service %s must be built from its Dockerfile", name)
			checkDockerfile(t, filepath.Join("..", svc.Build.Context, svc.Build.Dockerfile))

			known := envVars(t, spec.prefix, spec.config)
			for k := range svc.Environment {
				if strings.HasPrefix(k, spec.prefix+"_") {
					require.True(t, known[k], "docker-compose.yml sets %s for %s, which its config does not read (known: %s)", k, name, sortedKeys(known))
				}
			}
		})
	}
}

// checkDockerfile requires a multi-stage build producing a static binary
// that runs as a non-root user.
func checkDockerfile(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err, "Dockerfile %s is missing", path)
	text := string(raw)
	froms := regexp.MustCompile(`(?mi)^FROM\s`).FindAllString(text, -1)
	require.GreaterOrEqual(t, len(froms), 2, "%s must be a multi-stage build", path)
	require.Regexp(t, `CGO_ENABLED=0`, text, "%s must build a static binary (CGO_ENABLED=0)", path)
	users := regexp.MustCompile(`(?mi)^USER\s+(\S+)`).FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, users, "%s must set a USER", path)
	last := users[len(users)-1][1]
	require.NotRegexp(t, `^(root|0)(:|$)`, last, "%s must run as a non-root user", path)
}

type kustomization struct {
	ConfigMapGenerator []struct {
		Name     string   `yaml:"name"`
		Literals []string `yaml:"literals"`
	} `yaml:"configMapGenerator"`
}

func TestKustomizeVariablesAreKnown(t *testing.T) {
	for _, dir := range []string{"k8s/base", "k8s/overlays/dev", "k8s/overlays/production"} {
		raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		require.NoError(t, err)
		var k kustomization
		require.NoError(t, yaml.Unmarshal(raw, &k), dir)
		for _, g := range k.ConfigMapGenerator {
			name := strings.TrimPrefix(g.Name, "authbus-")
			spec, ok := services[name]
			require.True(t, ok, "%s: config map %s belongs to no known service", dir, g.Name)
			known := envVars(t, spec.prefix, spec.config)
			for _, lit := range g.Literals {
				key, _, _ := strings.Cut(lit, "=")
				require.True(t, known[key], "%s sets %s for %s, which its config does not read", dir, key, name)
			}
		}
	}
}

func sortedKeys(m map[string]bool) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
