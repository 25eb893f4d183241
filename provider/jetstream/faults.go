package jetstream

import (
	"fmt"
	"slices"
	"sync"

	"github.com/reprise/reprise/provider"
)

// The commit steps a fault can be injected before, in protocol order. The
// durability point is the record's publication: a fault at stepPublish
// leaves nothing, a fault at any later step leaves a commit that has taken
// effect and is completed (applied, dispatched) by the next use of the entity
// or by recovery on the next start.
const (
	stepPublish     = "before-publish"  // nothing published yet
	stepApply       = "before-apply"    // record in the log, store not updated
	stepDispatch    = "before-dispatch" // store updated, no outgoing message sent
	stepMidDispatch = "mid-dispatch"    // the first outgoing message sent, the rest not
	stepAck         = "before-ack"      // everything sent, consumed messages not acked
)

var commitSteps = []string{stepPublish, stepApply, stepDispatch, stepMidDispatch, stepAck}

// faultState holds the step armed by FailNextCommitAt.
type faultState struct {
	mu    sync.Mutex
	armed string
}

// take returns and disarms the armed step ("" when none).
func (f *faultState) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.armed
	f.armed = ""
	return s
}

// CommitSteps lists the commit protocol's steps, in order (see the package
// documentation for what each leaves behind).
func (p *Provider) CommitSteps() []string { return slices.Clone(commitSteps) }

// FailNextCommitAt makes the next Commit stop at step and return an error
// wrapping provider.ErrInjectedFault, doing nothing a crashed process would
// not have done. An unknown step is ignored.
func (p *Provider) FailNextCommitAt(step string) {
	if !slices.Contains(commitSteps, step) {
		p.log.Warn("ignoring unknown commit step", "step", step)
		return
	}
	p.faults.mu.Lock()
	p.faults.armed = step
	p.faults.mu.Unlock()
}

func injected(step string) error {
	return fmt.Errorf("commit stopped %s: %w", step, provider.ErrInjectedFault)
}

var _ provider.FaultInjector = (*Provider)(nil)
