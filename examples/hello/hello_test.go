package hello_test

import (
	"testing"

	"github.com/reprise/reprise/examples/hello"
	"github.com/reprise/reprise/examples/internal/exampletest"
)

func TestHelloGreetsByName(t *testing.T) {
	exampletest.Run(t, hello.Register, func(t *testing.T, d exampletest.Driver) {
		for _, tc := range []struct{ id, in, want string }{
			{"hello-world", "world", "Hello, world!"},
			{"hello-empty", "", "Hello, world!"},
			{"hello-ann", "Ann", "Hello, Ann!"},
		} {
			var got string
			exampletest.Go(t, d, hello.Name, tc.id, tc.in).Decode(t, &got)
			if got != tc.want {
				t.Errorf("%s: output %q, want %q", tc.id, got, tc.want)
			}
		}
	})
}
