package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"

	"github.com/affinityd/affinityd/affinity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// metricsHandler serves /metrics. The snapshot's series (topics × brands,
// 164,000 at 1,000 topics and 50 brands) change once per scoring pass, while
// Prometheus scrapes every 15-60 s; building, sorting and encoding them on
// every scrape cost about a CPU-second and 146 MB of garbage. So their text
// is rendered once per snapshot and kept gzipped, and a scrape gathers only
// the daemon's own metrics (tens of families) and appends it. Formats other
// than text (protobuf) take promhttp's path over both, as before.
type metricsHandler struct {
	live     prometheus.Gatherer
	snaps    *SnapshotCollector
	other    http.Handler
	errorLog *log.Logger

	mu      sync.Mutex
	from    *affinity.Snapshot // the snapshot gzipped was rendered from
	gzipped []byte             // one gzip member: the snapshot's families as text
}

func newMetricsHandler(live prometheus.Gatherer, snaps *SnapshotCollector, errorLog *log.Logger) *metricsHandler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(snaps)
	return &metricsHandler{
		live:     live,
		snaps:    snaps,
		other:    promhttp.HandlerFor(prometheus.Gatherers{live, reg}, promhttp.HandlerOpts{ErrorLog: errorLog}),
		errorLog: errorLog,
	}
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
	if format.FormatType() != expfmt.TypeTextPlain {
		h.other.ServeHTTP(w, r)
		return
	}
	mfs, err := h.live.Gather()
	if err != nil {
		h.fail(w, fmt.Errorf("gathering metrics: %w", err))
		return
	}
	snap, err := h.snapshotText()
	if err != nil {
		h.fail(w, fmt.Errorf("rendering the snapshot's metrics: %w", err))
		return
	}
	w.Header().Set("Content-Type", string(format))
	w.Header().Add("Vary", "Accept")
	w.Header().Add("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		// The snapshot's text is a gzip member of its own; a gzip stream may
		// hold several members, read in sequence (RFC 1952, 2.2).
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		err = encodeText(gz, format, mfs)
		if cerr := gz.Close(); err == nil {
			err = cerr
		}
		gzipWriters.Put(gz)
		if err == nil && len(snap) > 0 {
			_, err = w.Write(snap)
		}
	} else {
		err = encodeText(w, format, mfs)
		if err == nil && len(snap) > 0 {
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(bytes.NewReader(snap)); err == nil {
				_, err = io.Copy(w, zr)
			}
		}
	}
	if err != nil && h.errorLog != nil {
		// Headers are sent: all that is left is to say so (a client gone mid-scrape, mostly).
		h.errorLog.Println("error writing metrics:", err)
	}
}

// gzipWriters are reused: a gzip.Writer holds about 800 KB of compressor
// state, more than the daemon's own metrics it compresses.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func (h *metricsHandler) fail(w http.ResponseWriter, err error) {
	if h.errorLog != nil {
		h.errorLog.Println(err)
	}
	http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
}

// snapshotText returns the gzipped text of the current snapshot's families,
// rendering it if the snapshot changed since; nil before the first pass.
// Concurrent scrapes wait for one rendering.
func (h *metricsHandler) snapshotText() ([]byte, error) {
	s := h.snaps.snapshot()
	h.mu.Lock()
	defer h.mu.Unlock()
	if s == h.from {
		return h.gzipped, nil
	}
	if s == nil {
		h.from, h.gzipped = nil, nil
		return nil, nil
	}
	// One family at a time: a scrape's worth of metrics at once was the
	// daemon's peak memory; the largest family (topics × brands) is a third.
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	for _, d := range h.snaps.descs() {
		reg := prometheus.NewRegistry()
		if err := reg.Register(snapshotOf{h.snaps, s, d}); err != nil {
			return nil, err
		}
		mfs, err := reg.Gather()
		if err != nil {
			return nil, err
		}
		if err := encodeText(gz, expfmt.NewFormat(expfmt.TypeTextPlain), mfs); err != nil {
			return nil, err
		}
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	h.from, h.gzipped = s, bytes.Clone(buf.Bytes()) // the clone drops the buffer's slack
	return h.gzipped, nil
}

// snapshotOf collects one family of one given snapshot, so that what is
// rendered is exactly the snapshot it is cached under.
type snapshotOf struct {
	c      *SnapshotCollector
	s      *affinity.Snapshot
	family *prometheus.Desc
}

func (b snapshotOf) Describe(ch chan<- *prometheus.Desc) { ch <- b.family }
func (b snapshotOf) Collect(ch chan<- prometheus.Metric) { b.c.collect(b.s, b.family, ch) }

func encodeText(w io.Writer, format expfmt.Format, mfs []*dto.MetricFamily) error {
	enc := expfmt.NewEncoder(w, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// acceptsGzip reports whether the request's Accept-Encoding offers gzip
// (without q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
