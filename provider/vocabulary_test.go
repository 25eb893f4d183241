package provider_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbiddenWords are orchestration concepts that must not appear in the names
// or string literals of provider code (DESIGN.md §1). Matching is by
// case-insensitive substring.
var forbiddenWords = []string{
	"orchestrat", "activit", "timer", "execution", "continueasnew",
	"continue-as-new", "continue_as_new", "status", "workflow",
}

// forbiddenLiterals are status values a provider must never write or test.
var forbiddenLiterals = []string{
	"pending", "running", "completed", "failed", "terminated", "suspended", "continuedasnew",
}

// TestProviderVocabularyIsOpaque scans every non-test Go file under provider/
// and fails if a declared or referenced identifier, or a string literal,
// speaks of orchestrations. Selectors of other packages (time.NewTimer) are
// not the provider's vocabulary and are skipped.
func TestProviderVocabularyIsOpaque(t *testing.T) {
	root := "."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if strings.Contains(filepath.ToSlash(path), "providertest/") {
			// The conformance suite is test code by nature.
			return nil
		}
		checkFile(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkFile(t *testing.T, path string) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	skip := map[*ast.Ident]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ImportSpec:
			return false
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && isImportName(f, x.Name) {
				skip[n.Sel] = true
			}
		case *ast.Ident:
			if skip[n] {
				return true
			}
			if w := matchWord(n.Name); w != "" {
				t.Errorf("%s: identifier %q speaks of %q", fset.Position(n.Pos()), n.Name, w)
			}
		case *ast.BasicLit:
			if n.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(n.Value)
			if err != nil {
				s = n.Value
			}
			if w := matchWord(s); w != "" {
				t.Errorf("%s: string %q speaks of %q", fset.Position(n.Pos()), s, w)
			}
			for _, lit := range forbiddenLiterals {
				if strings.EqualFold(strings.TrimSpace(s), lit) {
					t.Errorf("%s: string %q is a status value", fset.Position(n.Pos()), s)
				}
			}
		}
		return true
	})
}

func isImportName(f *ast.File, name string) bool {
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		local := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if local == name {
			return true
		}
		// Major-version suffixes: github.com/x/y/v2 is imported as y.
		if strings.HasPrefix(local, "v") && imp.Name == nil {
			parts := strings.Split(p, "/")
			if len(parts) >= 2 && parts[len(parts)-2] == name {
				return true
			}
		}
	}
	return false
}

func matchWord(s string) string {
	l := strings.ToLower(s)
	for _, w := range forbiddenWords {
		if strings.Contains(l, w) {
			return w
		}
	}
	return ""
}
