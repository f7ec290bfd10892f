// Package plugingen is the plugin developer's tooling behind `authbus plugin
// generate|validate|check|test`: it writes a new plugin from a template
// (main, manifest, handlers, a plugintest test, README, go.mod), checks a
// manifest against the manifest schema and Manifest.Validate, builds a
// plugin and reads its manifest, and runs a plugin's tests.
package plugingen

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/authbus/authbus/internal/buildinfo"
	"github.com/authbus/authbus/pkg/contracts"
)

// ModulePath is the Go module a generated plugin requires for the SDK.
const ModulePath = "github.com/authbus/authbus"

// zeroVersion is the version required of a module that a replace
// directive provides (the usual placeholder: any version would do).
const zeroVersion = "v0.0.0-00010101000000-000000000000"

// Template names a kind of generated plugin.
type Template string

// The templates Generate knows.
const (
	// TemplateHook is a beforeSignIn hook that refuses configured domains.
	TemplateHook Template = "hook"
	// TemplateEvents is a user.created handler that notifies a team once per event.
	TemplateEvents Template = "events"
	// TemplateRoutes is a GET/POST route pair behind the gateway's session auth.
	TemplateRoutes Template = "routes"
)

// Templates lists the templates Generate knows.
func Templates() []Template { return []Template{TemplateHook, TemplateEvents, TemplateRoutes} }

// ErrNotEmpty is returned by Generate when the plugin directory exists and
// holds files.
var ErrNotEmpty = errors.New("directory is not empty")

//go:embed templates
var templateFS embed.FS

// Options say what Generate writes.
type Options struct {
	// Name is the plugin id (contracts.ValidatePluginID) and the name of
	// the directory Generate creates (required).
	Name string
	// Template is the kind of plugin (required).
	Template Template
	// Module is the generated go.mod's module path (default Name).
	Module string
	// Authbus says how go.mod reaches github.com/authbus/authbus (required:
	// see ResolveRequirement).
	Authbus Requirement
	// GoVersion is go.mod's go line (default: the go line of the replaced
	// checkout's go.mod, else the running toolchain's version).
	GoVersion string
}

// Requirement says how a generated go.mod requires github.com/authbus/authbus.
type Requirement struct {
	// Replace is the directory of an authbus checkout that go.mod replaces
	// the module with, absolute or relative to the plugin's directory
	// (default none: the published module is used).
	Replace string
	// Version is the version required (default: the placeholder version
	// when Replace is set; required otherwise).
	Version string
}

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	var errs []error
	if err := contracts.ValidatePluginID(o.Name); err != nil {
		errs = append(errs, fmt.Errorf("name: %w", err))
	}
	if !slices.Contains(Templates(), o.Template) {
		errs = append(errs, fmt.Errorf("template %q is not one of %s", o.Template, templateList()))
	}
	if o.Module != "" && (strings.ContainsAny(o.Module, " \t\r\n\"'`\\") || strings.HasPrefix(o.Module, "/") || strings.HasSuffix(o.Module, "/")) {
		errs = append(errs, fmt.Errorf("module %q is not a Go module path such as example.com/%s", o.Module, o.Name))
	}
	if o.Authbus.Replace == "" && o.Authbus.Version == "" {
		errs = append(errs, errors.New("authbus requirement: give a checkout to replace the module with, or a published version"))
	}
	if v := o.Authbus.Version; v != "" && !strings.HasPrefix(v, "v") {
		errs = append(errs, fmt.Errorf("authbus version %q must be a module version such as v0.1.0", v))
	}
	return errors.Join(errs...)
}

func templateList() string {
	names := make([]string, 0, len(Templates()))
	for _, t := range Templates() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// templateData is what the templates see.
type templateData struct {
	// ID is the plugin id.
	ID string
	// Title is a human-readable name made from the id.
	Title string
	// Module is the module path.
	Module string
	// GoVersion is go.mod's go line.
	GoVersion string
	// AuthbusVersion is the version go.mod requires.
	AuthbusVersion string
	// Replace is the replace directive's target, quoted when needed.
	Replace string
	// CoreRange is the coreVersion range of the manifest.
	CoreRange string
	// Template is the template name.
	Template Template
}

// Generate creates the plugin directory dir (which must not exist or be
// empty) and writes a plugin made from o.Template into it. It returns the
// files written, relative to dir and sorted. Go files are gofmt'ed.
func Generate(dir string, o Options) ([]string, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("generate plugin: %w", err)
	}
	if err := ensureEmptyDir(dir); err != nil {
		return nil, fmt.Errorf("generate plugin: %w", err)
	}
	data := templateData{ID: o.Name, Title: title(o.Name), Module: o.Module, GoVersion: o.GoVersion,
		AuthbusVersion: o.Authbus.Version, CoreRange: "^" + buildinfo.CoreVersion, Template: o.Template}
	if data.Module == "" {
		data.Module = o.Name
	}
	if o.Authbus.Replace != "" {
		data.Replace = modPath(o.Authbus.Replace)
		if data.AuthbusVersion == "" {
			data.AuthbusVersion = zeroVersion
		}
		if data.GoVersion == "" {
			target := o.Authbus.Replace
			if !filepath.IsAbs(target) {
				target = filepath.Join(dir, target)
			}
			data.GoVersion = goLine(filepath.Join(target, "go.mod"))
		}
	}
	if data.GoVersion == "" {
		data.GoVersion = toolchainVersion()
	}
	files, err := render(o.Template, data)
	if err != nil {
		return nil, fmt.Errorf("generate plugin: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return nil, fmt.Errorf("generate plugin: %w", err)
		}
	}
	return names, nil
}

// render executes the common templates and those of t; it returns file
// contents by output name.
func render(t Template, data templateData) (map[string][]byte, error) {
	funcs := template.FuncMap{"quote": strconv.Quote}
	tmpl := template.New("plugin").Delims("[[", "]]").Funcs(funcs)
	var outputs []string
	for _, sub := range []string{"common", string(t)} {
		entries, err := fs.ReadDir(templateFS, "templates/"+sub)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", t, err)
		}
		for _, e := range entries {
			b, err := fs.ReadFile(templateFS, path.Join("templates", sub, e.Name()))
			if err != nil {
				return nil, err
			}
			if _, err := tmpl.New(e.Name()).Parse(string(b)); err != nil {
				return nil, fmt.Errorf("template %s/%s: %w", sub, e.Name(), err)
			}
			// Files named *.defs.tmpl only define named templates.
			if !strings.HasSuffix(e.Name(), ".defs.tmpl") {
				outputs = append(outputs, e.Name())
			}
		}
	}
	out := map[string][]byte{}
	for _, name := range outputs {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, name, data); err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		file := outputName(name, t)
		b := buf.Bytes()
		if strings.HasSuffix(file, ".go") {
			formatted, err := format.Source(b)
			if err != nil {
				return nil, fmt.Errorf("template %s renders Go that does not parse: %w", name, err)
			}
			b = formatted
		}
		out[file] = b
	}
	return out, nil
}

// outputName maps a template file name to the file it writes: the ".tmpl"
// suffix goes, "gitignore" becomes ".gitignore", and "handler" is renamed
// after the template ("handler.go" of the hook template is "hook.go").
func outputName(name string, t Template) string {
	name = strings.TrimSuffix(name, ".tmpl")
	switch {
	case name == "gitignore":
		return ".gitignore"
	case strings.HasPrefix(name, "handler"):
		return string(t) + strings.TrimPrefix(name, "handler")
	}
	return name
}

// ensureEmptyDir creates dir, or accepts it when it exists and is empty.
func ensureEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s: %w (%d entries); choose another --dir or --name, nothing was overwritten", dir, ErrNotEmpty, len(entries))
	}
	return nil
}

// title makes "My plugin" out of "my-plugin".
func title(id string) string {
	s := strings.ReplaceAll(id, "-", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// modPath writes a path for a go.mod replace directive, quoted when it has
// characters go.mod does not take bare.
func modPath(p string) string {
	p = filepath.ToSlash(p)
	if strings.ContainsAny(p, " \t\"'`\\") {
		return strconv.Quote(p)
	}
	return p
}

// goLine returns the version of the go line of the go.mod at path, or "".
func goLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// moduleLine returns the module path of the go.mod at path, or "".
func moduleLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// toolchainVersion is the running toolchain's version for a go line
// ("go1.26.8" → "1.26.8").
func toolchainVersion() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	if f := strings.Fields(v); len(f) > 0 {
		v = f[0]
	}
	if v == "" || strings.HasPrefix(v, "devel") {
		return "1.26"
	}
	return v
}
