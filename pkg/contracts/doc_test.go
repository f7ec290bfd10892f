package contracts

import (
	"go/ast"
	"go/doc"
	"go/token"
	"testing"
)

// TestExportedIdentifiersHaveDocs fails naming every exported identifier of
// the package (types, struct fields, functions, methods, constants,
// variables) without a doc comment. A documented const or var block counts
// for its members.
func TestExportedIdentifiersHaveDocs(t *testing.T) {
	fset, files := parsePackage(t)
	pkg, err := doc.NewFromFiles(fset, files, "github.com/authbus/authbus/pkg/contracts")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	report := func(pos token.Pos, name string) {
		missing = append(missing, fset.Position(pos).String()+": "+name)
	}
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			if v.Doc != "" {
				continue // the block's comment documents every member
			}
			for _, spec := range v.Decl.Specs {
				vs := spec.(*ast.ValueSpec)
				if vs.Doc != nil || vs.Comment != nil {
					continue
				}
				for _, n := range vs.Names {
					if n.IsExported() {
						report(n.Pos(), n.Name)
					}
				}
			}
		}
	}
	funcs := func(fs []*doc.Func) {
		for _, f := range fs {
			if f.Doc == "" {
				name := f.Name
				if f.Recv != "" {
					name = f.Recv + "." + name
				}
				report(f.Decl.Pos(), name)
			}
		}
	}

	values(pkg.Consts)
	values(pkg.Vars)
	funcs(pkg.Funcs)
	for _, typ := range pkg.Types {
		if typ.Doc == "" {
			report(typ.Decl.Pos(), typ.Name)
		}
		values(typ.Consts)
		values(typ.Vars)
		funcs(typ.Funcs)
		funcs(typ.Methods)
		for _, spec := range typ.Decl.Specs {
			st, ok := spec.(*ast.TypeSpec).Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, field := range st.Fields.List {
				if field.Doc != nil || field.Comment != nil {
					continue
				}
				for _, n := range field.Names {
					if n.IsExported() {
						report(n.Pos(), typ.Name+"."+n.Name)
					}
				}
			}
		}
	}
	for _, m := range missing {
		t.Errorf("%s has no doc comment", m)
	}
}
