/**
 * /metrics bodies for the dashboard's unit tests, in prom-client's layout (HELP, TYPE, then
 * samples; `le` first among a bucket's labels), with the families the gateway exposes.
 */

export interface Traffic {
  ok: number;
  refused: number;
  upstreamFailed: number;
  tokensIn: number;
  tokensOut: number;
  /** Cumulative counts of warden_gateway_duration_seconds at le = 0.005, 0.01, 0.05, 0.1, +Inf. */
  gatewayBuckets: [number, number, number, number, number];
}

export function metricsBody(t: Traffic): string {
  const [b1, b2, b3, b4, inf] = t.gatewayBuckets;
  return `# HELP warden_requests_total Requests answered, by route, model and status.
# TYPE warden_requests_total counter
warden_requests_total{route="/v1/chat/completions",model="mock-gpt",status="200"} ${t.ok}
warden_requests_total{route="/v1/chat/completions",model="mock-gpt",status="401"} ${t.refused}
warden_requests_total{route="/v1/chat/completions",model="mock-gpt",status="502"} ${t.upstreamFailed}

# HELP warden_gateway_duration_seconds Time from request to the reply's last byte.
# TYPE warden_gateway_duration_seconds histogram
warden_gateway_duration_seconds_bucket{le="0.005",route="/v1/chat/completions"} ${b1}
warden_gateway_duration_seconds_bucket{le="0.01",route="/v1/chat/completions"} ${b2}
warden_gateway_duration_seconds_bucket{le="0.05",route="/v1/chat/completions"} ${b3}
warden_gateway_duration_seconds_bucket{le="0.1",route="/v1/chat/completions"} ${b4}
warden_gateway_duration_seconds_bucket{le="+Inf",route="/v1/chat/completions"} ${inf}
warden_gateway_duration_seconds_sum{route="/v1/chat/completions"} 1.5
warden_gateway_duration_seconds_count{route="/v1/chat/completions"} ${inf}

# HELP warden_upstream_duration_seconds Upstream call time.
# TYPE warden_upstream_duration_seconds histogram
warden_upstream_duration_seconds_bucket{le="0.01",upstream="mock"} ${t.ok}
warden_upstream_duration_seconds_bucket{le="0.1",upstream="mock"} ${t.ok + t.upstreamFailed}
warden_upstream_duration_seconds_bucket{le="+Inf",upstream="mock"} ${t.ok + t.upstreamFailed}
warden_upstream_duration_seconds_sum{upstream="mock"} 0.3
warden_upstream_duration_seconds_count{upstream="mock"} ${t.ok + t.upstreamFailed}

# HELP warden_tokens_total Tokens by direction, model and tenant.
# TYPE warden_tokens_total counter
warden_tokens_total{direction="in",model="mock-gpt",tenant="acme"} ${t.tokensIn}
warden_tokens_total{direction="out",model="mock-gpt",tenant="acme"} ${t.tokensOut}

# HELP warden_refusals_total Requests refused, by stage, code and rule.
# TYPE warden_refusals_total counter
warden_refusals_total{stage="auth",code="invalid_api_key",rule=""} ${t.refused}
warden_refusals_total{stage="waf",code="content_blocked",rule="injection.ignore_previous"} 2

# HELP warden_waf_findings_total WAF findings by rule and action.
# TYPE warden_waf_findings_total counter
warden_waf_findings_total{rule="pii.email",action="redact"} 5

# HELP warden_upstream_errors_total Upstream failures by upstream and code.
# TYPE warden_upstream_errors_total counter
warden_upstream_errors_total{upstream="mock",code="upstream_error"} ${t.upstreamFailed}

# HELP warden_upstream_retries_total Failed attempts tried again.
# TYPE warden_upstream_retries_total counter
warden_upstream_retries_total{upstream="mock",code="upstream_error"} 1

# HELP warden_upstream_available 1 in rotation, 0 cooling down.
# TYPE warden_upstream_available gauge
warden_upstream_available{upstream="mock",model="mock-gpt"} 1
warden_upstream_available{upstream="mock",model="mock-gpt-mini"} 0
warden_upstream_available{upstream="spare",model="mock-gpt"} 1

# HELP warden_ledger_records Records in the ledger.
# TYPE warden_ledger_records gauge
warden_ledger_records ${t.ok + t.refused + t.upstreamFailed}

# HELP warden_ledger_checkpoint_age_seconds Seconds since the latest checkpoint was signed.
# TYPE warden_ledger_checkpoint_age_seconds gauge
warden_ledger_checkpoint_age_seconds 1.25

# HELP warden_audit_queue_depth Records handed off but not yet in the ledger.
# TYPE warden_audit_queue_depth gauge
warden_audit_queue_depth 0
`;
}
