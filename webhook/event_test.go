package webhook_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// Bodies as the seed pages show them (InfraAudit) and as Herald sends them.
const (
	infraAuditBody = `{"event":"drift.detected","timestamp":"2024-01-15T14:30:00Z","webhook_id":"wh_abc123","delivery_id":"del_xyz789","data":{"drift_id":55,"drift_type":"security","severity":"critical","resource_id":5,"resource_name":"data-lake-bucket","resource_type":"s3_bucket","provider_id":1,"summary":"BlockPublicAcls changed from true to false","detected_at":"2024-01-15T14:30:00Z"}}`
	frugallyBody   = `{"id":"evt_001","type":"execution.failed","timestamp":"2025-03-10T19:00:00Z","team_id":"team_xyz","data":{"execution_id":"exec_abc123","target_id":"target_def456","target_name":"Dev EC2 Instances","action":"stop","trigger":"manual","triggered_by":"user_abc","error_code":"iam_permission_denied","error_message":"Unable to assume IAM role FrugallyAccessRole in account 123456789012.","resource_count":12,"resources_actioned":0,"resources_failed":12}}`
	standardBody   = `{"type":"cost.anomaly","timestamp":"2024-01-15T03:30:00Z","data":{"anomaly_id":2,"provider_id":1,"date":"2024-01-14","actual_amount":452.30,"expected_amount":290.00,"deviation_percent":56.0,"currency":"USD"}}`
)

func TestParse(t *testing.T) {
	t.Parallel()
	standardHeader := http.Header{"Webhook-Id": {"evt_01JD"}}
	tests := []struct {
		format webhook.Format
		header http.Header
		body   string
		want   webhook.Event
	}{
		{webhook.FormatInfraAudit, nil, infraAuditBody, webhook.Event{
			Format: webhook.FormatInfraAudit, ID: "del_xyz789", Type: "drift.detected",
			Timestamp: time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC), WebhookID: "wh_abc123", DeliveryID: "del_xyz789",
			Data: json.RawMessage(infraAuditBody[strings.Index(infraAuditBody, `{"drift_id"`) : len(infraAuditBody)-1]),
		}},
		{webhook.FormatFrugally, nil, frugallyBody, webhook.Event{
			Format: webhook.FormatFrugally, ID: "evt_001", EventID: "evt_001", Type: "execution.failed",
			Timestamp: time.Date(2025, 3, 10, 19, 0, 0, 0, time.UTC), TeamID: "team_xyz",
			Data: json.RawMessage(frugallyBody[strings.Index(frugallyBody, `{"execution_id"`) : len(frugallyBody)-1]),
		}},
		{webhook.FormatStandard, standardHeader, standardBody, webhook.Event{
			Format: webhook.FormatStandard, ID: "evt_01JD", EventID: "evt_01JD", Type: "cost.anomaly",
			Timestamp: time.Date(2024, 1, 15, 3, 30, 0, 0, time.UTC),
			Data:      json.RawMessage(`{"anomaly_id":2,"provider_id":1,"date":"2024-01-14","actual_amount":452.30,"expected_amount":290.00,"deviation_percent":56.0,"currency":"USD"}`),
		}},
		// Whitespace and unknown fields, as a pretty-printing producer might send: data
		// keeps its bytes.
		{webhook.FormatStandard, standardHeader, "{\n \"type\": \"ping\",\n \"extra\": [1],\n \"timestamp\": \"2024-01-15T10:00:00.5+01:00\",\n \"data\": { \"a\" : 1 }\n}\n", webhook.Event{
			Format: webhook.FormatStandard, ID: "evt_01JD", EventID: "evt_01JD", Type: "ping",
			Timestamp: time.Date(2024, 1, 15, 9, 0, 0, 5e8, time.UTC),
			Data:      json.RawMessage(`{ "a" : 1 }`),
		}},
		{webhook.FormatFrugally, nil, `{"id":"evt_1","type":"custom.thing","timestamp":"2025-03-10T19:00:00Z","team_id":"","data":null}`, webhook.Event{
			Format: webhook.FormatFrugally, ID: "evt_1", EventID: "evt_1", Type: "custom.thing",
			Timestamp: time.Date(2025, 3, 10, 19, 0, 0, 0, time.UTC), Data: json.RawMessage("null"),
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.format)+"/"+tt.want.Type, func(t *testing.T) {
			t.Parallel()
			e, err := webhook.Parse(tt.format, tt.header, []byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !e.Timestamp.Equal(tt.want.Timestamp) {
				t.Errorf("Timestamp = %v, want %v", e.Timestamp, tt.want.Timestamp)
			}
			got := *e
			got.Timestamp, tt.want.Timestamp = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format webhook.Format
		header http.Header
		body   string
		want   error
		msg    string
	}{
		{"unknown format", "svix", nil, frugallyBody, webhook.ErrUnknownFormat, "svix"},
		{"not JSON", webhook.FormatFrugally, nil, `{"id":`, webhook.ErrInvalidPayload, "not a JSON object"},
		{"array", webhook.FormatFrugally, nil, `[1]`, webhook.ErrInvalidPayload, "not a JSON object"},
		{"null", webhook.FormatFrugally, nil, `null`, webhook.ErrInvalidPayload, "not a JSON object"},
		{"empty", webhook.FormatInfraAudit, nil, ``, webhook.ErrInvalidPayload, "not a JSON object"},
		{"frugally body as infraaudit", webhook.FormatInfraAudit, nil, frugallyBody, webhook.ErrInvalidPayload, `"event"`},
		{"infraaudit body as frugally", webhook.FormatFrugally, nil, infraAuditBody, webhook.ErrInvalidPayload, `"id"`},
		{"no delivery_id", webhook.FormatInfraAudit, nil, strings.Replace(infraAuditBody, `"delivery_id"`, `"delivery"`, 1), webhook.ErrInvalidPayload, `"delivery_id"`},
		{"empty delivery_id", webhook.FormatInfraAudit, nil, strings.Replace(infraAuditBody, `"del_xyz789"`, `""`, 1), webhook.ErrInvalidPayload, `"delivery_id" is empty`},
		{"no webhook_id", webhook.FormatInfraAudit, nil, strings.Replace(infraAuditBody, `"webhook_id":"wh_abc123",`, ``, 1), webhook.ErrInvalidPayload, `"webhook_id"`},
		{"no data", webhook.FormatInfraAudit, nil, infraAuditBody[:strings.Index(infraAuditBody, `,"data"`)] + "}", webhook.ErrInvalidPayload, `"data"`},
		{"numeric id", webhook.FormatFrugally, nil, strings.Replace(frugallyBody, `"evt_001"`, `1`, 1), webhook.ErrInvalidPayload, `"id" is not a string`},
		{"null type", webhook.FormatFrugally, nil, strings.Replace(frugallyBody, `"execution.failed"`, `null`, 1), webhook.ErrInvalidPayload, `"type" is not a string`},
		{"no team_id", webhook.FormatFrugally, nil, strings.Replace(frugallyBody, `"team_id":"team_xyz",`, ``, 1), webhook.ErrInvalidPayload, `"team_id"`},
		{"bad timestamp", webhook.FormatFrugally, nil, strings.Replace(frugallyBody, `2025-03-10T19:00:00Z`, `10/03/2025`, 1), webhook.ErrInvalidPayload, `"timestamp" "10/03/2025" is not an RFC 3339 time`},
		{"standard without webhook-id", webhook.FormatStandard, nil, standardBody, webhook.ErrMissingHeader, "webhook-id"},
		{"standard without type", webhook.FormatStandard, http.Header{"Webhook-Id": {"evt_1"}}, `{"timestamp":"2024-01-15T03:30:00Z","data":{}}`, webhook.ErrInvalidPayload, `"type"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := webhook.Parse(tt.format, tt.header, []byte(tt.body))
			if e != nil {
				t.Errorf("Parse returned an event with its error: %+v", e)
			}
			checkErr(t, err, errs(tt.want), tt.msg)
		})
	}
}

func TestPayload(t *testing.T) {
	t.Parallel()
	e, err := webhook.Parse(webhook.FormatFrugally, nil, []byte(frugallyBody))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.Payload()
	if err != nil {
		t.Fatalf("Payload: %v", err)
	}
	failed, ok := p.(*webhook.ExecutionFailed)
	if !ok {
		t.Fatalf("Payload = %T, want *webhook.ExecutionFailed", p)
	}
	zero, twelve := int64(0), int64(12)
	want := webhook.ExecutionFailed{
		ExecutionID: "exec_abc123", TargetID: "target_def456", TargetName: "Dev EC2 Instances",
		Action: "stop", Trigger: "manual", TriggeredBy: "user_abc", ResourceCount: 12,
		ErrorCode: "iam_permission_denied", ErrorMessage: "Unable to assume IAM role FrugallyAccessRole in account 123456789012.",
		ResourcesActioned: &zero, ResourcesFailed: &twelve,
	}
	if !reflect.DeepEqual(*failed, want) {
		t.Errorf("Payload =\n%+v\nwant\n%+v", *failed, want)
	}

	// A custom type has no struct: its data comes back as sent.
	custom := &webhook.Event{Type: "invoice.paid", Data: json.RawMessage(`{"amount": 1}`)}
	p, err = custom.Payload()
	if raw, ok := p.(json.RawMessage); err != nil || !ok || string(raw) != `{"amount": 1}` {
		t.Errorf("Payload of a custom type = %#v, %v; want its data as json.RawMessage", p, err)
	}

	// Data of the wrong shape is an ErrInvalidPayload that names the type.
	bad := &webhook.Event{Type: webhook.TypeDriftDetected, ID: "del_1", Data: json.RawMessage(`{"drift_id":"fifty-five"}`)}
	_, err = bad.Payload()
	checkErr(t, err, errs(webhook.ErrInvalidPayload), "drift.detected", "DriftDetected")
}

func TestDecodeData(t *testing.T) {
	t.Parallel()
	e, err := webhook.Parse(webhook.FormatInfraAudit, nil, []byte(infraAuditBody))
	if err != nil {
		t.Fatal(err)
	}
	d, err := webhook.DecodeData[webhook.DriftDetected](e)
	if err != nil || d.DriftID != 55 || d.ResourceName != "data-lake-bucket" || d.DetectedAt != "2024-01-15T14:30:00Z" {
		t.Errorf("DecodeData[DriftDetected] = %+v, %v", d, err)
	}
	m, err := webhook.DecodeData[map[string]any](e)
	if err != nil || m["summary"] != "BlockPublicAcls changed from true to false" {
		t.Errorf("DecodeData[map] = %v, %v", m, err)
	}
	_, err = webhook.DecodeData[[]int](e)
	if !errors.Is(err, webhook.ErrInvalidPayload) {
		t.Errorf("DecodeData[[]int] error = %v, want ErrInvalidPayload", err)
	}
	_, err = webhook.DecodeData[webhook.Ping](nil)
	if !errors.Is(err, webhook.ErrInvalidPayload) {
		t.Errorf("DecodeData(nil) error = %v, want ErrInvalidPayload", err)
	}
}
