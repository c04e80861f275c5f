package webhook

// The event types of Herald's built-in catalog: InfraAudit's and Frugally's.
const (
	TypePing                    = "ping"
	TypeDriftDetected           = "drift.detected"
	TypeDriftResolved           = "drift.resolved"
	TypeAlertCreated            = "alert.created"
	TypeVulnerabilityFound      = "vulnerability.found"
	TypeComplianceViolation     = "compliance.violation"
	TypeCostAnomaly             = "cost.anomaly"
	TypeJobCompleted            = "job.completed"
	TypeRemediationCompleted    = "remediation.completed"
	TypeExecutionStarted        = "execution.started"
	TypeExecutionCompleted      = "execution.completed"
	TypeExecutionFailed         = "execution.failed"
	TypeScheduleActivated       = "schedule.activated"
	TypeSchedulePaused          = "schedule.paused"
	TypeBudgetThresholdBreached = "budget.threshold_breached"
	TypeBudgetExceeded          = "budget.exceeded"
	TypeViolationCreated        = "violation.created"
	TypeViolationResolved       = "violation.resolved"
	TypeScanCompleted           = "scan.completed"
	TypeFindingCreated          = "finding.created"
	TypeAnomalyDetected         = "anomaly.detected"
	TypeConnectionHealthChanged = "connection.health_changed"
	TypeAccessRequestSubmitted  = "access_request.submitted"
	TypeAccessRequestApproved   = "access_request.approved"
	TypeAccessRequestDenied     = "access_request.denied"
)

// payloadTypes makes, for each built-in event type, the struct Event.Payload decodes its
// data into.
var payloadTypes = map[string]func() any{
	TypePing:                    func() any { return new(Ping) },
	TypeDriftDetected:           func() any { return new(DriftDetected) },
	TypeDriftResolved:           func() any { return new(DriftResolved) },
	TypeAlertCreated:            func() any { return new(AlertCreated) },
	TypeVulnerabilityFound:      func() any { return new(VulnerabilityFound) },
	TypeComplianceViolation:     func() any { return new(ComplianceViolation) },
	TypeCostAnomaly:             func() any { return new(CostAnomaly) },
	TypeJobCompleted:            func() any { return new(JobCompleted) },
	TypeRemediationCompleted:    func() any { return new(RemediationCompleted) },
	TypeExecutionStarted:        func() any { return new(ExecutionStarted) },
	TypeExecutionCompleted:      func() any { return new(ExecutionCompleted) },
	TypeExecutionFailed:         func() any { return new(ExecutionFailed) },
	TypeScheduleActivated:       func() any { return new(ScheduleActivated) },
	TypeSchedulePaused:          func() any { return new(SchedulePaused) },
	TypeBudgetThresholdBreached: func() any { return new(BudgetThresholdBreached) },
	TypeBudgetExceeded:          func() any { return new(BudgetExceeded) },
	TypeViolationCreated:        func() any { return new(ViolationCreated) },
	TypeViolationResolved:       func() any { return new(ViolationResolved) },
	TypeScanCompleted:           func() any { return new(ScanCompleted) },
	TypeFindingCreated:          func() any { return new(FindingCreated) },
	TypeAnomalyDetected:         func() any { return new(AnomalyDetected) },
	TypeConnectionHealthChanged: func() any { return new(ConnectionHealthChanged) },
	TypeAccessRequestSubmitted:  func() any { return new(AccessRequestSubmitted) },
	TypeAccessRequestApproved:   func() any { return new(AccessRequestApproved) },
	TypeAccessRequestDenied:     func() any { return new(AccessRequestDenied) },
}

// The structs below mirror the catalog's JSON Schemas (catalog/schemas): one field per
// property, with its JSON name; JSON integers are int64, numbers float64. Times and
// dates are strings, RFC 3339 ("2024-01-15T14:30:00Z") and "2024-01-14": they
// round-trip byte for byte, and a malformed one does not make a whole delivery
// undecodable. Enumerations are listed in the field comments.

// Ping is the data of a "ping" event, sent when a webhook is created and on every test
// request.
type Ping struct {
	WebhookID string `json:"webhook_id"`
	Message   string `json:"message"` // "Webhook endpoint verified"
}

// DriftDetected is the data of a "drift.detected" event (InfraAudit): a new drift
// finding.
type DriftDetected struct {
	DriftID      int64  `json:"drift_id"`
	DriftType    string `json:"drift_type"`
	Severity     string `json:"severity"` // critical, high, medium, low or warning
	ResourceID   int64  `json:"resource_id"`
	ResourceName string `json:"resource_name"`
	ResourceType string `json:"resource_type"`
	ProviderID   int64  `json:"provider_id"`
	Summary      string `json:"summary"`
	DetectedAt   string `json:"detected_at"` // RFC 3339
}

// DriftResolved is the data of a "drift.resolved" event (InfraAudit): a drift finding
// was marked as resolved.
type DriftResolved struct {
	DriftID    int64  `json:"drift_id"`
	ResolvedBy int64  `json:"resolved_by"`
	ResolvedAt string `json:"resolved_at"` // RFC 3339
}

// AlertCreated is the data of an "alert.created" event (InfraAudit): a new alert.
type AlertCreated struct {
	AlertID      int64  `json:"alert_id"`
	Title        string `json:"title"`
	Type         string `json:"type"`
	Severity     string `json:"severity"` // critical, high, medium, low or warning
	ResourceID   int64  `json:"resource_id"`
	ResourceName string `json:"resource_name"`
	CreatedAt    string `json:"created_at"` // RFC 3339
}

// VulnerabilityFound is the data of a "vulnerability.found" event (InfraAudit): a CVE
// found by a vulnerability scan.
type VulnerabilityFound struct {
	VulnerabilityID int64   `json:"vulnerability_id"`
	CVEID           string  `json:"cve_id"`   // CVE-2024-12345
	Severity        string  `json:"severity"` // critical, high, medium, low or warning
	CVSSScore       float64 `json:"cvss_score"`
	PackageName     string  `json:"package_name"`
	FixVersion      string  `json:"fix_version"`
	ResourceID      int64   `json:"resource_id"`
	ResourceName    string  `json:"resource_name"`
}

// ComplianceViolation is the data of a "compliance.violation" event (InfraAudit): a
// compliance control failed during an assessment.
type ComplianceViolation struct {
	AssessmentID    int64            `json:"assessment_id"`
	FrameworkID     string           `json:"framework_id"`
	ControlID       string           `json:"control_id"`
	ControlTitle    string           `json:"control_title"`
	Severity        string           `json:"severity"` // critical, high, medium, low or warning
	FailedResources []FailedResource `json:"failed_resources"`
}

// FailedResource is a resource that failed a compliance control.
type FailedResource struct {
	ResourceID   int64  `json:"resource_id"`
	ResourceName string `json:"resource_name"`
}

// CostAnomaly is the data of a "cost.anomaly" event (InfraAudit): a provider's daily
// cost exceeded its expected range.
type CostAnomaly struct {
	AnomalyID        int64   `json:"anomaly_id"`
	ProviderID       int64   `json:"provider_id"`
	Date             string  `json:"date"` // 2024-01-14
	ActualAmount     float64 `json:"actual_amount"`
	ExpectedAmount   float64 `json:"expected_amount"`
	DeviationPercent float64 `json:"deviation_percent"`
	Currency         string  `json:"currency"` // ISO 4217, USD
}

// JobCompleted is the data of a "job.completed" event (InfraAudit): a scheduled job
// finished, successfully or not.
type JobCompleted struct {
	JobID         int64  `json:"job_id"`
	JobType       string `json:"job_type"`
	ExecutionID   int64  `json:"execution_id"`
	Status        string `json:"status"` // succeeded or failed
	DurationMS    int64  `json:"duration_ms"`
	FindingsCount int64  `json:"findings_count"`
}

// RemediationCompleted is the data of a "remediation.completed" event (InfraAudit): a
// remediation action finished.
type RemediationCompleted struct {
	RemediationID int64  `json:"remediation_id"`
	Status        string `json:"status"` // completed or failed
	ResourceID    int64  `json:"resource_id"`
	ResourceName  string `json:"resource_name"`
	ExecutedBy    int64  `json:"executed_by"`
	ExecutedAt    string `json:"executed_at"` // RFC 3339
}

// Execution is the data the three execution events (Frugally) share. The fields after
// ResourceCount are sent by some of them only: optional numbers are pointers, nil when
// absent, so that a 0 that was sent (resources_failed: 0) is told from one that was not;
// optional strings are empty when absent.
type Execution struct {
	ExecutionID   string `json:"execution_id"`
	TargetID      string `json:"target_id"`
	TargetName    string `json:"target_name"`
	Action        string `json:"action"`
	Trigger       string `json:"trigger"` // schedule or manual
	ResourceCount int64  `json:"resource_count"`

	ScheduleID              string   `json:"schedule_id,omitempty"`
	ScheduleName            string   `json:"schedule_name,omitempty"`
	ConnectionID            string   `json:"connection_id,omitempty"`
	TriggeredBy             string   `json:"triggered_by,omitempty"`
	ResourcesActioned       *int64   `json:"resources_actioned,omitempty"`
	ResourcesAlreadyInState *int64   `json:"resources_already_in_state,omitempty"`
	ResourcesFailed         *int64   `json:"resources_failed,omitempty"`
	DurationSeconds         *int64   `json:"duration_seconds,omitempty"`
	EstimatedSavingsUSD     *float64 `json:"estimated_savings_usd,omitempty"`
	ErrorCode               string   `json:"error_code,omitempty"`
	ErrorMessage            string   `json:"error_message,omitempty"`
}

// ExecutionStarted is the data of an "execution.started" event (Frugally): an execution
// began running.
type ExecutionStarted Execution

// ExecutionCompleted is the data of an "execution.completed" event (Frugally): an
// execution finished successfully.
type ExecutionCompleted Execution

// ExecutionFailed is the data of an "execution.failed" event (Frugally): an execution
// failed; ErrorCode and ErrorMessage say why.
type ExecutionFailed Execution

// ScheduleActivated is the data of a "schedule.activated" event (Frugally): a schedule
// was set to Active.
type ScheduleActivated struct {
	ScheduleID  string `json:"schedule_id"`
	Name        string `json:"name"`
	ActivatedBy string `json:"activated_by"`
	NextRunAt   string `json:"next_run_at"` // RFC 3339
	Timezone    string `json:"timezone"`    // IANA, Europe/London
}

// SchedulePaused is the data of a "schedule.paused" event (Frugally): a schedule was set
// to Inactive.
type SchedulePaused struct {
	ScheduleID string `json:"schedule_id"`
	Name       string `json:"name"`
	PausedBy   string `json:"paused_by"`
}

// BudgetThresholdBreached is the data of a "budget.threshold_breached" event
// (Frugally): spend crossed one of a budget's thresholds.
type BudgetThresholdBreached struct {
	BudgetID            string  `json:"budget_id"`
	ProjectID           string  `json:"project_id"`
	ProjectName         string  `json:"project_name"`
	BudgetName          string  `json:"budget_name"`
	Amount              float64 `json:"amount"`
	CurrentSpend        float64 `json:"current_spend"`
	PercentageUsed      float64 `json:"percentage_used"`
	ThresholdPercentage int64   `json:"threshold_percentage"`
	Currency            string  `json:"currency"` // ISO 4217, USD
	Period              string  `json:"period"`   // monthly
}

// BudgetExceeded is the data of a "budget.exceeded" event (Frugally): spend exceeded
// a budget's amount.
type BudgetExceeded struct {
	BudgetID       string  `json:"budget_id"`
	ProjectID      string  `json:"project_id"`
	ProjectName    string  `json:"project_name"`
	BudgetName     string  `json:"budget_name"`
	Amount         float64 `json:"amount"`
	CurrentSpend   float64 `json:"current_spend"`
	Overspend      float64 `json:"overspend"`
	PercentageUsed float64 `json:"percentage_used"`
	Currency       string  `json:"currency"` // ISO 4217, USD
	Period         string  `json:"period"`   // monthly
}

// ViolationCreated is the data of a "violation.created" event (Frugally): a new Guard
// violation.
type ViolationCreated struct {
	ViolationID string `json:"violation_id"`
	ProjectID   string `json:"project_id"`
	ProjectName string `json:"project_name"`
	Type        string `json:"type"`
	Severity    string `json:"severity"` // critical, high, medium, low or warning
	Message     string `json:"message"`
	BudgetID    string `json:"budget_id"`
}

// ViolationResolved is the data of a "violation.resolved" event (Frugally): a Guard
// violation was resolved.
type ViolationResolved struct {
	ViolationID    string `json:"violation_id"`
	ProjectID      string `json:"project_id"`
	ResolvedBy     string `json:"resolved_by"`
	ResolutionNote string `json:"resolution_note"`
}

// ScanCompleted is the data of a "scan.completed" event (Frugally): a Guard scan
// finished.
type ScanCompleted struct {
	ScanID             string             `json:"scan_id"`
	ProjectID          string             `json:"project_id"`
	ProjectName        string             `json:"project_name"`
	Status             string             `json:"status"` // completed or failed
	FindingsCount      int64              `json:"findings_count"`
	FindingsBySeverity FindingsBySeverity `json:"findings_by_severity"`
	DurationSeconds    int64              `json:"duration_seconds"`
}

// FindingsBySeverity counts a scan's findings by severity.
type FindingsBySeverity struct {
	Critical int64 `json:"critical"`
	High     int64 `json:"high"`
	Medium   int64 `json:"medium"`
	Low      int64 `json:"low"`
}

// FindingCreated is the data of a "finding.created" event (Frugally): a scan found
// something.
type FindingCreated struct {
	FindingID      string `json:"finding_id"`
	ScanID         string `json:"scan_id"`
	ProjectID      string `json:"project_id"`
	ResourceID     string `json:"resource_id"`
	ResourceType   string `json:"resource_type"`
	Severity       string `json:"severity"` // critical, high, medium, low or warning
	Title          string `json:"title"`
	Recommendation string `json:"recommendation"`
}

// AnomalyDetected is the data of an "anomaly.detected" event (Frugally): a cost anomaly.
type AnomalyDetected struct {
	AnomalyID           string  `json:"anomaly_id"`
	ConnectionID        string  `json:"connection_id"`
	Service             string  `json:"service"`
	Metric              string  `json:"metric"`
	ExpectedValue       float64 `json:"expected_value"`
	ActualValue         float64 `json:"actual_value"`
	DeviationPercentage float64 `json:"deviation_percentage"`
	Severity            string  `json:"severity"`     // critical, high, medium, low or warning
	PeriodStart         string  `json:"period_start"` // 2025-03-10
	PeriodEnd           string  `json:"period_end"`   // 2025-03-10
}

// ConnectionHealthChanged is the data of a "connection.health_changed" event
// (Frugally): a connection's health status changed.
type ConnectionHealthChanged struct {
	ConnectionID   string `json:"connection_id"`
	AccountID      string `json:"account_id"`
	PreviousStatus string `json:"previous_status"` // connected, degraded, disconnected, error or pending
	NewStatus      string `json:"new_status"`      // the same
	Reason         string `json:"reason"`
}

// AccessRequestSubmitted is the data of an "access_request.submitted" event
// (Frugally): someone asked for access to a resource.
type AccessRequestSubmitted struct {
	RequestID        string `json:"request_id"`
	RequestedBy      string `json:"requested_by"`
	RequestedByEmail string `json:"requested_by_email"`
	ResourceType     string `json:"resource_type"`
	ResourceID       string `json:"resource_id"`
	ResourceName     string `json:"resource_name"`
	RoleRequested    string `json:"role_requested"`
	Reason           string `json:"reason"`
}

// AccessRequestDecision is the data the two access request decision events (Frugally)
// share.
type AccessRequestDecision struct {
	RequestID string `json:"request_id"`
	DecidedBy string `json:"decided_by"`
	Decision  string `json:"decision"` // approved or denied
	Note      string `json:"note"`
}

// AccessRequestApproved is the data of an "access_request.approved" event (Frugally).
type AccessRequestApproved AccessRequestDecision

// AccessRequestDenied is the data of an "access_request.denied" event (Frugally).
type AccessRequestDenied AccessRequestDecision
