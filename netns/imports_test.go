package netns

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// DESIGN.md: arrows point down only. netns imports none of runtime, cgroups
// or images, and never cobra.
func TestImportsPointDown(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{
		"github.com/miniruntime/miniruntime/runtime",
		"github.com/miniruntime/miniruntime/cgroups",
		"github.com/miniruntime/miniruntime/images",
		"github.com/miniruntime/miniruntime/cmd",
		"github.com/spf13/cobra",
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
