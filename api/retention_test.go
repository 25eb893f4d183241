package api

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStartRetentionIsCheckedAndNamed(t *testing.T) {
	for _, tc := range []struct {
		retention string
		want      time.Duration
		err       string // a part of the error message; empty: valid
	}{
		{"", 0, ""},
		{"1s", time.Second, ""},
		{"72h", 72 * time.Hour, ""},
		{"876000h", MaxRetention, ""},
		{"999ms", 0, "retention 999ms is out of range"},
		{"876000h1s", 0, "retention 876000h0m1s is out of range"},
		{"-1h", 0, "retention -1h0m0s is out of range"},
		{"0s", 0, ""},
		{"a week", 0, `retention "a week" is not a duration`},
		{"7", 0, `retention "7" is not a duration`},
	} {
		r := StartRequest{Name: "n", Retention: tc.retention}
		err := r.Validate()
		if tc.err == "" {
			d, _ := r.RetentionDuration()
			if err != nil || d != tc.want {
				t.Errorf("retention %q: %v, %v; want %v", tc.retention, d, err, tc.want)
			}
			continue
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != CodeBadRequest || !strings.Contains(ae.Message, tc.err) {
			t.Errorf("retention %q: err = %v, want bad_request containing %q", tc.retention, err, tc.err)
		}
	}
}

func TestWithRetentionSetsTheRequestField(t *testing.T) {
	r := NewStartRequest("n", nil, WithRetention(90*time.Minute))
	if r.Retention != "1h30m0s" {
		t.Fatalf("retention field %q", r.Retention)
	}
	if d, err := r.RetentionDuration(); err != nil || d != 90*time.Minute {
		t.Fatalf("RetentionDuration = %v, %v", d, err)
	}
}
