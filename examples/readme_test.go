package examples_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snippetImports are the packages a README fragment may use, by name; a
// fragment is compiled with the ones it names.
var snippetImports = map[string]string{
	"context": "context",
	"fmt":     "fmt",
	"time":    "time",
	"nats":    "github.com/nats-io/nats.go",
	"client":  "github.com/reprise/reprise/client",
	"runtime": "github.com/reprise/reprise/runtime",
	"host":    "github.com/reprise/reprise/services/host",
}

// TestREADMESnippetsAndExamplesCompile compiles every Go snippet of the
// README against this tree's packages, and the examples with them, so a
// renamed or moved API breaks this test rather than the user's first try.
// A snippet that is a whole file (it begins with "package") is compiled as
// it is, except that the README's placeholder package example.com/shop/orders
// is a stub; a fragment is compiled as the body of a function that has ctx
// and returns an error, with the types it leaves to the reader (Order,
// Receipt) declared and "{ ... }" bodies elided. The snippets are overlaid
// (go build -overlay) in directories that do not exist on disk.
func TestREADMESnippetsAndExamplesCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	snippets := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(snippets) < 3 {
		t.Fatalf("found %d Go snippets in the README, want at least 3", len(snippets))
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	add := func(rel, src string) {
		file := filepath.Join(tmp, strings.ReplaceAll(rel, "/", "_"))
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		overlay[filepath.Join(root, rel)] = file
	}
	const base = "examples/zz_readme"
	add(base+"/orders/orders.go", "package orders\n\nimport \"github.com/reprise/reprise/runtime\"\n\n"+
		"// Register is the README's placeholder.\nfunc Register(*runtime.Registry) error { return nil }\n")
	pkgs := []string{"./examples/..."}
	for i, m := range snippets {
		dir := fmt.Sprintf("%s/s%d", base, i)
		add(dir+"/main.go", snippetFile(m[1], "github.com/reprise/reprise/"+base+"/orders"))
		pkgs = append(pkgs, "./"+dir)
	}
	ov, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	ovFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovFile, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, append([]string{"build", "-overlay", ovFile, "-o", os.DevNull}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		for i, m := range snippets {
			t.Logf("snippet s%d:\n%s", i, m[1])
		}
		t.Fatalf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
}

// snippetFile turns a README snippet into a main package.
func snippetFile(snippet, ordersPkg string) string {
	if strings.HasPrefix(snippet, "package ") {
		return strings.ReplaceAll(snippet, `"example.com/shop/orders"`, `"`+ordersPkg+`"`)
	}
	body := strings.ReplaceAll(snippet, "{ ... }", `{ panic("elided in the README") }`)
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n")
	uses := map[string]bool{"context": true} // the function's ctx
	for name := range snippetImports {
		if regexp.MustCompile(`\b` + name + `\.`).MatchString(body) {
			uses[name] = true
		}
	}
	for name, path := range snippetImports {
		if uses[name] {
			fmt.Fprintf(&b, "\t%q\n", path)
		}
	}
	b.WriteString(")\n\n// Order and Receipt are the README's placeholder types.\ntype (\n\tOrder   struct{}\n\tReceipt struct{ ID string }\n)\n\n")
	b.WriteString("func main() { _ = snippet }\n\nfunc snippet(ctx context.Context) error {\n")
	b.WriteString(body)
	b.WriteString("\treturn nil\n}\n")
	return b.String()
}
