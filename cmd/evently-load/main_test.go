package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/evently/evently/internal/loadgen"
)

func TestScenarioConfigGivesSingleItsOwnSizes(t *testing.T) {
	t.Parallel()
	base := loadgen.Config{Buyers: 1000, Seats: 20000}
	tests := []struct {
		scenario                  string
		singleBuyers, singleSeats int
		wantBuyers, wantSeats     int
	}{
		{"single", 500, 6000, 500, 6000},
		{"single", 0, 0, 1000, 20000},
		{"single", 0, 6000, 1000, 6000},
		{"rush", 500, 6000, 1000, 20000},
		{"contention", 500, 6000, 1000, 20000},
	}
	for _, tt := range tests {
		got := scenarioConfig(base, tt.scenario, tt.singleBuyers, tt.singleSeats)
		if got.Buyers != tt.wantBuyers || got.Seats != tt.wantSeats {
			t.Errorf("scenarioConfig(%s, %d, %d) = %d buyers, %d seats, want %d, %d", tt.scenario,
				tt.singleBuyers, tt.singleSeats, got.Buyers, got.Seats, tt.wantBuyers, tt.wantSeats)
		}
	}
}

func TestRunNeedsAnAdmin(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-scenario", "single"}, func(string) string { return "" }, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "admin") {
		t.Errorf("run() without an admin = %v, want an error naming the admin", err)
	}
}
