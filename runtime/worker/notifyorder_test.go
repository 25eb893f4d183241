package worker

import "testing"

// TestTurnOrderReportsInTurnOrder: the second turn of an instance gets the
// first's report to wait for, which is done only once the first leaves;
// another instance waits for nothing, and a left entry is forgotten.
func TestTurnOrderReportsInTurnOrder(t *testing.T) {
	var o turnOrder
	prev1, first := o.enter("a")
	if prev1 != nil {
		t.Fatal("the first turn waits for a report")
	}
	prev2, second := o.enter("a")
	if prev2 == nil {
		t.Fatal("the second turn has no report to wait for")
	}
	if other, _ := o.enter("b"); other != nil {
		t.Fatal("another instance waits for a report")
	}
	select {
	case <-prev2:
		t.Fatal("the first turn's report is done before it left")
	default:
	}
	o.leave("a", first)
	<-prev2
	o.leave("a", second)
	if _, ok := o.last["a"]; ok {
		t.Fatal("a left instance is still tracked")
	}
}
