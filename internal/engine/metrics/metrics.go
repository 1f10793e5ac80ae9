// Package metrics holds the engine's Prometheus collectors.
//
// Everything lives on the Metrics' own registry (never the global default one),
// so several engines in one test process do not collide. The reconciler calls
// the Observe* methods; the server serves Handler() on /metrics.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "imagewatch"

// Poll results (label "result" of imagewatch_polls_total).
const (
	PollSuccess  = "success"
	PollError    = "error"
	PollCanceled = "canceled" // the engine shut down mid-poll: not a failure
)

// Analysis outcomes (label "status" of imagewatch_analyses_total).
const (
	AnalysisAnalyzed = "analyzed"
	AnalysisSkipped  = "skipped"
	AnalysisFailed   = "failed"
	analysisOther    = "other"
)

// Webhook outcomes (label "result" of imagewatch_webhooks_total).
const (
	WebhookAccepted     = "accepted"
	WebhookIgnored      = "ignored"
	WebhookUnauthorized = "unauthorized"
	WebhookUnknownRepo  = "unknown_repository"
	WebhookBadRequest   = "bad_request"
)

// AnalysisBuckets spans a cached small image (well under a second) to a
// multi-GiB image pulled cold (tens of minutes).
var AnalysisBuckets = []float64{0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800}

// requestBuckets spans a local Artifactory answering in milliseconds to a large
// blob or a slow AQL query.
var requestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// storeScrapeTimeout bounds the store queries one scrape makes.
const storeScrapeTimeout = 5 * time.Second

// StoreStats is what the store-fed gauges read on every scrape
// (*store.Store implements it).
type StoreStats interface {
	Counts(ctx context.Context) (map[string]int, error)
}

// DeliveryStats is optionally implemented by a StoreStats
// (*store.Store implements it) to expose delivery backlogs per output.
type DeliveryStats interface {
	DeliveryCounts(ctx context.Context) (map[string]map[string]int, error)
}

// Metrics is safe for concurrent use. Build it with New.
type Metrics struct {
	reg *prometheus.Registry
	log hclog.Logger

	polls       *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	discovered  *prometheus.CounterVec
	analyses    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	requests    *prometheus.CounterVec
	reqDuration *prometheus.HistogramVec
	webhooks    *prometheus.CounterVec

	store atomic.Pointer[storeSource]
}

type storeSource struct{ s StoreStats }

// Option configures New.
type Option func(*Metrics)

// WithLogger sets the logger scrape errors are reported to (a Named("metrics") sub-logger is used).
func WithLogger(l hclog.Logger) Option { return func(m *Metrics) { m.log = l } }

// New returns Metrics on a fresh registry holding the engine's collectors and
// the Go runtime and process collectors.
func New(opts ...Option) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), log: hclog.NewNullLogger()}
	for _, o := range opts {
		o(m)
	}
	m.log = m.log.Named("metrics")

	m.polls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "polls_total",
		Help: "Discovery polls per integration, by result (success, error, canceled).",
	}, []string{"integration", "result"})
	m.lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "last_successful_poll_timestamp_seconds",
		Help: "Unix time of the integration's last successful poll (alert when it grows old).",
	}, []string{"integration"})
	m.discovered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "images_discovered_total",
		Help: "New or moved tags found by discovery, per integration.",
	}, []string{"integration"})
	m.analyses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "analyses_total",
		Help: "Finished analyses per integration, by status (analyzed, skipped, failed).",
	}, []string{"integration", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "analysis_duration_seconds",
		Help:    "Wall time of one analysis (pull, SBOM, metadata), by status.",
		Buckets: AnalysisBuckets,
	}, []string{"status"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "artifactory_requests_total",
		Help: "HTTP requests sent to Artifactory per integration, by endpoint family and status code (\"error\" when no response came).",
	}, []string{"integration", "endpoint", "code"})
	m.reqDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "artifactory_request_duration_seconds",
		Help:    "Time to response headers of requests sent to Artifactory, by endpoint family.",
		Buckets: requestBuckets,
	}, []string{"endpoint"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhooks_total",
		Help: "Artifactory webhooks received, by integration (empty when not routed) and result.",
	}, []string{"integration", "result"})

	m.reg.MustRegister(
		m.polls, m.lastSuccess, m.discovered, m.analyses, m.duration, m.requests, m.reqDuration, m.webhooks,
		&storeCollector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry the collectors live on (to register more, or to gather in tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A failing
// store query drops only the store-fed gauges from that scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          m.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.reg, // promhttp_metric_handler_errors_total
		Timeout:           30 * time.Second,
		EnableOpenMetrics: true,
	})
}

// WatchStore feeds imagewatch_queue_depth, imagewatch_store_analyses and
// imagewatch_store_deliveries from s at scrape time. Until it is called those
// families are absent rather than a misleading zero.
func (m *Metrics) WatchStore(s StoreStats) {
	if s == nil {
		m.store.Store(nil)
		return
	}
	m.store.Store(&storeSource{s: s})
}

// ObservePoll counts one discovery poll of integration. err == nil is a
// success; a poll cut short by shutdown (context.Canceled) is "canceled".
func (m *Metrics) ObservePoll(integration string, err error) {
	switch {
	case err == nil:
		m.polls.WithLabelValues(integration, PollSuccess).Inc()
		m.lastSuccess.WithLabelValues(integration).SetToCurrentTime()
	case errors.Is(err, context.Canceled):
		m.polls.WithLabelValues(integration, PollCanceled).Inc()
	default:
		m.polls.WithLabelValues(integration, PollError).Inc()
	}
}

// ImagesDiscovered adds n new or moved tags found by a poll of integration.
func (m *Metrics) ImagesDiscovered(integration string, n int) {
	c := m.discovered.WithLabelValues(integration) // creates the series at 0 on an idle poll
	if n > 0 {
		c.Add(float64(n))
	}
}

// ObserveAnalysis records one finished analysis. status is analyzed (or the
// store's "done"), skipped or failed; anything else is counted as "other" so a
// typo cannot explode the label set.
func (m *Metrics) ObserveAnalysis(integration, status string, d time.Duration) {
	status = normalizeStatus(status)
	m.analyses.WithLabelValues(integration, status).Inc()
	m.duration.WithLabelValues(status).Observe(d.Seconds())
}

// ObserveWebhook counts one webhook delivery (results: the Webhook* constants).
func (m *Metrics) ObserveWebhook(integration, result string) {
	m.webhooks.WithLabelValues(integration, result).Inc()
}

// ForgetIntegration drops every series labelled with integration (after it was
// removed by a hot reload), so dashboards stop showing it.
func (m *Metrics) ForgetIntegration(integration string) {
	l := prometheus.Labels{"integration": integration}
	m.polls.DeletePartialMatch(l)
	m.lastSuccess.DeletePartialMatch(l)
	m.discovered.DeletePartialMatch(l)
	m.analyses.DeletePartialMatch(l)
	m.requests.DeletePartialMatch(l)
	m.webhooks.DeletePartialMatch(l)
}

func normalizeStatus(s string) string {
	switch s {
	case AnalysisAnalyzed, "done":
		return AnalysisAnalyzed
	case AnalysisSkipped, AnalysisFailed:
		return s
	default:
		return analysisOther
	}
}

// InstrumentTransport wraps next (http.DefaultTransport when nil) so every
// request is counted in imagewatch_artifactory_requests_total{integration,
// endpoint, code} and timed. Wrap the innermost transport (below retries) so
// each retry counts as the request it is.
func (m *Metrics) InstrumentTransport(integration string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &instrumentedTransport{next: next, integration: integration, m: m}
}

type instrumentedTransport struct {
	next        http.RoundTripper
	integration string
	m           *Metrics
}

func (t *instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	family := EndpointFamily(req.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil && resp != nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.m.requests.WithLabelValues(t.integration, family, code).Inc()
	t.m.reqDuration.WithLabelValues(family).Observe(time.Since(start).Seconds())
	return resp, err
}

// storeCollector reads the store at scrape time, so the gauges are never stale
// and no engine code has to remember to update them.
type storeCollector struct{ m *Metrics }

var (
	queueDepthDesc = prometheus.NewDesc(namespace+"_queue_depth",
		"Analyses waiting to run (status pending, including failures scheduled for a retry).", nil, nil)
	storeAnalysesDesc = prometheus.NewDesc(namespace+"_store_analyses",
		"Analyses in the store, by status.", []string{"status"}, nil)
	storeDeliveriesDesc = prometheus.NewDesc(namespace+"_store_deliveries",
		"Deliveries in the store, by output and status.", []string{"output", "status"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- storeAnalysesDesc
	ch <- storeDeliveriesDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.store.Load()
	if src == nil {
		return
	}
	// Collect has no context; this is the root of the scrape's store work.
	ctx, cancel := context.WithTimeout(context.Background(), storeScrapeTimeout)
	defer cancel()
	counts, err := src.s.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(counts["pending"]))
		for st, n := range counts {
			ch <- prometheus.MustNewConstMetric(storeAnalysesDesc, prometheus.GaugeValue, float64(n), st)
		}
	}
	ds, ok := src.s.(DeliveryStats)
	if !ok {
		return
	}
	dc, err := ds.DeliveryCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(storeDeliveriesDesc, err)
		return
	}
	for out, byStatus := range dc {
		for st, n := range byStatus {
			ch <- prometheus.MustNewConstMetric(storeDeliveriesDesc, prometheus.GaugeValue, float64(n), out, st)
		}
	}
}
