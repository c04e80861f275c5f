package bench

import (
	"testing"
	"time"
)

// TestQuantile checks the nearest-rank quantiles the report is made of.
func TestQuantile(t *testing.T) {
	t.Parallel()
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{nil, 0.5, 0},
		{[]time.Duration{7}, 0.99, 7},
		{hundred, 0.5, 50 * time.Millisecond},
		{hundred, 0.9, 90 * time.Millisecond},
		{hundred, 0.99, 99 * time.Millisecond},
		{hundred, 1, 100 * time.Millisecond},
		{hundred, 0, time.Millisecond},
	} {
		if got := quantile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("quantile(%d values, %v) = %v, want %v", len(tc.sorted), tc.q, got, tc.want)
		}
	}
}

// TestVerdicts holds the engine's figures to their targets, and gives none to a figure
// that was not measured.
func TestVerdicts(t *testing.T) {
	t.Parallel()
	r := &Report{
		E2E: &E2EResult{RatioToRaw: 0.2, BatchRatioToRaw: 0.6, SingleServerCPUMS: 0.44,
			Many: &ManyEndpointsResult{SingleRatioToRaw: 0.49, BatchRatioToRaw: 0.5}},
		Latency:  []LatencyResult{{Rate: 100, P50MS: 3, ServerCPUMS: 0.25}, {Rate: 1000, P99MS: 30, ServerCPUMS: 0.2}},
		Postgres: &PostgresResult{Ratio: 1.2, OneProcess: 3100, OnePostgresCPUMS: 0.3},
		Hostile:  &HostileResult{HealthyP99MS: 26800},
	}
	v := verdicts(r)
	for key, met := range map[string]bool{
		"7_e2e_batch_ratio_to_raw":                true,
		"7_e2e_many_single_ratio_to_raw":          false,
		"7_e2e_many_batch_ratio_to_raw":           true,
		"8_server_cpu_ms_per_delivery_full_speed": false,
		"8_server_cpu_ms_per_delivery_at_100":     true,
		"9_postgres_cpu_ms_per_delivery":          false,
		"9_postgres_1_process_deliveries_per_s":   true,
		"10_hostile_healthy_p99_ms":               false,
	} {
		got, ok := v[key]
		if !ok || got.Met != met {
			t.Errorf("%s: %+v (present %v), want met %v", key, got, ok, met)
		}
	}
	r.E2E.SingleServerCPUMS, r.Postgres.OnePostgresCPUMS = 0, 0 // not measured
	v = verdicts(r)
	for _, key := range []string{"8_server_cpu_ms_per_delivery_full_speed", "9_postgres_cpu_ms_per_delivery"} {
		if got, ok := v[key]; ok {
			t.Errorf("%s: %+v for a figure not measured, want no verdict", key, got)
		}
	}
}
