package deploy

import (
	"testing"

	"go.uber.org/goleak"
)

// The metric test runs a real monitor; it must be stopped with its probes.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
