package examples_test

import (
	"errors"
	"testing"

	"github.com/reprise/reprise/examples"
	"github.com/reprise/reprise/runtime"
)

func TestRegisterAllRegistersEveryExampleOnce(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := examples.RegisterAll(reg); err != nil {
		t.Fatalf("RegisterAll: %v", err)
	}
	if err := examples.RegisterAll(reg); !errors.Is(err, runtime.ErrAlreadyRegistered) {
		t.Fatalf("second RegisterAll: %v, want ErrAlreadyRegistered", err)
	}
}
