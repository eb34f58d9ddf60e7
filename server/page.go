package server

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

func formatFloat(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }

// pageFuncs format numbers and times for people. They return plain strings
// (never template.HTML), so html/template escapes whatever they produce.
var pageFuncs = template.FuncMap{
	"pct": func(f float64) string { return formatFloat(f*100, 0) + "%" },
	// barWidth is a bar's CSS width in percent, clamped: a float goes into a
	// style attribute, which html/template checks as CSS.
	"barWidth": func(f float64) float64 { return math.Round(min(max(f, 0), 1)*1000) / 10 },
	"f2":       func(f float64) string { return formatFloat(f, 2) },
	"f3":       func(f float64) string { return formatFloat(f, 3) },
	"signed": func(f float64) string {
		if f > 0 {
			return "+" + formatFloat(f, 2)
		}
		return formatFloat(f, 2)
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"span": func(d time.Duration) string {
		if d%(24*time.Hour) == 0 {
			return strconv.Itoa(int(d/(24*time.Hour))) + " days"
		}
		return d.String()
	},
	"join": func(s []string) string { return strings.Join(s, ", ") },
	// tone says in words what a net sentiment means, so the page does not
	// rely on colour; ±0.05 is the neutral band the sentiment evaluation uses.
	"tone": func(f float64) string {
		switch {
		case f >= 0.05:
			return "positive"
		case f <= -0.05:
			return "negative"
		}
		return "neutral"
	},
	"copies": func(n int64) string {
		if n == 1 {
			return "+1 copy"
		}
		return "+" + strconv.FormatInt(n, 10) + " copies"
	},
}

// Every page is the layout around its own "content"; each page is its own
// template set so their "content" definitions do not collide.
var (
	baseTemplate    = template.Must(template.Must(template.New("layout").Funcs(pageFuncs).Parse(layoutHTML)).Parse(partsHTML))
	statusTemplate  = page(statusHTML)
	topicTemplate   = page(topicHTML)
	sourcesTemplate = page(sourcesHTML)
	messageTemplate = page(`{{define "content"}}<h1>{{.Title}}</h1><p>{{.Message}}</p><p><a href="{{.Root}}">Back to the topics</a></p>{{end}}`)
)

func page(content string) *template.Template {
	return template.Must(template.Must(baseTemplate.Clone()).Parse(content))
}

// The styles are inline (no external assets: the page works offline and
// under a strict CSP). Colours keep at least 4.5:1 contrast on white; focus
// is a thick amber outline; below 40rem wide tables become stacked cards.
const layoutHTML = `{{define "layout"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · affinityd</title>
<style>
:root{color-scheme:light;--fg:#1a1a1a;--muted:#4a5560;--line:#cfd6dd;--alt:#f3f5f7;--accent:#0b57d0;--bad:#a40e26;--good:#116329}
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:var(--fg);background:#fff}
.skip{position:absolute;left:-9999px;top:.5rem}.skip:focus{left:.5rem;background:#fff;color:var(--accent);padding:.4rem .6rem;z-index:2}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
header.site{background:#10243e;color:#fff}
header.site nav{max-width:76rem;margin:0 auto;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center}
header.site a{color:#fff}
.brand{font-weight:700;font-size:1.15rem;text-decoration:none}
header.site ul{list-style:none;display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;margin:0;padding:0}
[aria-current=page]{text-decoration-thickness:3px;text-underline-offset:.35em;font-weight:600}
main{max-width:76rem;margin:0 auto;padding:1rem}
main:focus{outline:none}
footer{max-width:76rem;margin:2rem auto 1rem;padding:0 1rem;color:var(--muted);font-size:.9rem}
a{color:var(--accent)}
a:focus-visible,main [tabindex]:focus-visible{outline:3px solid #b45309;outline-offset:2px;border-radius:2px}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;margin:1.75rem 0 .25rem}h3{font-size:1.1rem;margin:1.25rem 0 .25rem}
.meta{color:var(--muted);margin:.25rem 0 .75rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{padding:.4rem .55rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
thead th{background:var(--alt);font-weight:600}
tbody th{font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:var(--muted)}
.score{font-weight:700;font-size:1.05rem}
.badge{display:inline-block;padding:0 .45rem;border-radius:.7rem;border:1px solid var(--line);background:var(--alt);font-size:.85rem;white-space:nowrap}
.badge.bad,.bad{color:var(--bad)}.good{color:var(--good)}
.bar{background:var(--alt);border:1px solid var(--line);height:1.1rem;min-width:8rem;border-radius:2px}
.bar span{display:block;height:100%;background:var(--accent)}
.bar span.occ{background:var(--bad)}
svg.spark{display:block}
svg.spark polyline{fill:none;stroke:var(--accent);stroke-width:1.6;stroke-linejoin:round}
svg.spark circle{fill:var(--accent)}
svg.spark line{stroke:var(--line);stroke-width:1}
.posts{list-style:none;padding:0;margin:0}
.posts li{border-bottom:1px solid var(--line);padding:.6rem 0}
.posts .text{margin:0 0 .25rem;white-space:pre-wrap;overflow-wrap:anywhere}
.posts .by{color:var(--muted);font-size:.92rem;overflow-wrap:anywhere}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,20rem),1fr));gap:0 2rem}
.terms{padding-left:1.2rem}
.formula{background:var(--alt);padding:.5rem .75rem;border-radius:4px;overflow-x:auto}
dl.def{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.25rem 0 1rem}
dl.def dt{font-weight:600}dl.def dd{margin:0;overflow-wrap:anywhere}
.query{background:var(--alt);padding:0 .3rem;border-radius:3px;white-space:pre-wrap}
@media (max-width:40rem){
 table.cards thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
 table.cards tr{display:block;border-bottom:2px solid var(--line);padding:.4rem 0}
 table.cards td,table.cards tbody th{display:flex;justify-content:space-between;gap:1rem;border:0;padding:.15rem 0;text-align:right}
 table.cards td::before,table.cards tbody th::before{content:attr(data-label);font-weight:600;text-align:left;color:var(--muted)}
}
</style></head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><nav aria-label="Main">
<a class="brand" href="{{.Root}}">affinityd</a>
<ul>
<li><a href="{{.Root}}"{{if eq .Section "topics"}} aria-current="page"{{end}}>Topics</a></li>
<li><a href="{{.Root}}sources"{{if eq .Section "sources"}} aria-current="page"{{end}}>Sources</a></li>
<li><a href="{{.Root}}metrics">Metrics</a></li>
<li><a href="{{.Root}}api/v1/topics">JSON API</a></li>
</ul></nav></header>
<main id="main" tabindex="-1">
{{template "content" .}}
</main>
<footer><p>affinityd — social media affinity of your customer relationships' topics. Scores are absolute, in [0, 1]; see the README for the formula.</p></footer>
</body></html>
{{end}}`

const statusHTML = `{{define "content"}}
<h1>Topics</h1>
{{with .Snapshot}}<p class="meta">Scores over <time datetime="{{iso .Window.From}}">{{ts .Window.From}}</time> – <time datetime="{{iso .Window.To}}">{{ts .Window.To}}</time>,
computed <time datetime="{{iso .Computed}}">{{ts .Computed}}</time>. Momentum compares the window with the {{span .Baseline.Duration}} before it.</p>
{{else}}<p>No scores computed yet. The first scoring pass runs shortly after start; this page shows it on the next load.</p>{{end}}
{{range $i, $g := .Groups}}
<section aria-labelledby="rel-{{$i}}">
<h2 id="rel-{{$i}}">{{$g.Name}}</h2>
<p class="meta">Relationship type <strong>{{$g.Type}}</strong> · priority <strong>{{or $g.Priority "not known"}}</strong>{{if $g.Segments}} · segments {{join $g.Segments}}{{end}}</p>
<div class="scroll" role="region" aria-labelledby="rel-{{$i}}" tabindex="0">
<table class="cards">
<caption class="vh">Topics of the relationship {{$g.Name}}</caption>
<thead><tr><th scope="col">Topic</th><th scope="col">Priority</th><th scope="col" class="num">Affinity</th><th scope="col">Last 4 weeks</th>
<th scope="col" class="num">Mentions</th><th scope="col" class="num">Authors</th><th scope="col">Formats present</th>
<th scope="col" class="num">Momentum</th><th scope="col" class="num">Sentiment</th><th scope="col">Leader (share of voice)</th></tr></thead>
<tbody>
{{range .Topics}}<tr>
<th scope="row" data-label="Topic"><a href="topics/{{.Topic}}">{{.Topic}}</a></th>
<td data-label="Priority">{{.Priority}}</td>
<td data-label="Affinity" class="num score">{{f2 .Score}}</td>
<td data-label="Last 4 weeks">{{template "spark" .Spark}}</td>
<td data-label="Mentions" class="num">{{.Mentions}}</td>
<td data-label="Authors" class="num">{{.Authors}}</td>
<td data-label="Formats present"><span>{{range .Formats}}<span class="badge">{{.Format}} {{.Count}}</span> {{else}}<span class="muted">none</span>{{end}}</span></td>
<td data-label="Momentum" class="num">{{f2 .Momentum}}×</td>
<td data-label="Sentiment" class="num">{{signed .Sentiment}}</td>
<td data-label="Leader">{{if .Leader}}{{.Leader}} ({{pct (index .ShareOfVoice .Leader)}}){{if .Occupier}} <span class="badge bad">occupied by {{.Occupier}}</span>{{end}}{{else}}<span class="muted">no brand mentioned</span>{{end}}</td>
</tr>
{{end}}</tbody></table></div>
</section>
{{end}}
<section aria-labelledby="health">
<h2 id="health">Source health</h2>
<p>{{len .Sources}} sources: {{.Up}} up{{if .Down}}, <strong class="bad">{{.Down}} down</strong>{{end}}. <a href="sources">Details of every source</a></p>
<ul>{{range .Sources}}<li>{{.Name}} — {{template "state" .}}</li>{{end}}</ul>
</section>
{{end}}`

const topicHTML = `{{define "content"}}
<nav aria-label="Breadcrumb"><a href="{{.Root}}">Topics</a> › {{.Topic.Relationship}} › <span aria-current="page">{{.Topic.Topic}}</span></nav>
<h1>{{.Topic.Topic}}</h1>
<p class="meta">Relationship <strong>{{.Topic.Relationship}}</strong> ({{.Topic.RelationshipType}}{{if .RelPriority}}, priority {{.RelPriority}}{{end}}){{if .Topic.Segments}} · segments {{join .Topic.Segments}}{{end}} · topic priority <strong>{{.Topic.Priority}}</strong><br>
Window <time datetime="{{iso .Snapshot.Window.From}}">{{ts .Snapshot.Window.From}}</time> – <time datetime="{{iso .Snapshot.Window.To}}">{{ts .Snapshot.Window.To}}</time></p>
<p><span class="score">Affinity {{f2 .Topic.Score}}</span>{{if .Occupier}} <span class="badge bad">occupied by {{.Occupier}}</span>{{end}}</p>
{{template "spark" .Spark}}

<section aria-labelledby="definition">
<h2 id="definition">What the topic matches</h2>
{{with .Definition}}<dl class="def">
{{if .Query}}<dt>Query</dt><dd><code class="query">{{.Query}}</code></dd>
{{else}}<dt>Terms</dt><dd>{{join .Terms}}</dd>
{{if .Synonyms}}<dt>Synonyms</dt><dd>{{join .Synonyms}}</dd>{{end}}{{end}}
{{if .Exclude}}<dt>Excluded</dt><dd>{{join .Exclude}}</dd>{{end}}
<dt>Languages</dt><dd>{{if .Languages}}only posts in {{join .Languages}}{{else}}every language{{end}}</dd>
</dl>{{else}}<p class="muted">The topic's definition is not available: the daemon did not pass it.</p>{{end}}
</section>

<section aria-labelledby="components">
<h2 id="components">How the score adds up</h2>
<p class="formula"><code>affinity = w<sub>m</sub>·sat(m, m0) + w<sub>a</sub>·sat(a, a0) + w<sub>e</sub>·sat(e, e0) + w<sub>f</sub>·f/3</code>, with <code>sat(x, x0) = min(1, ln(1+x) / ln(1+x0))</code></p>
<div class="scroll" role="region" aria-labelledby="components" tabindex="0">
<table>
<caption class="vh">Components of the affinity score</caption>
<thead><tr><th scope="col">Component</th><th scope="col" class="num">Value</th><th scope="col" class="num">Reference</th><th scope="col" class="num">Saturated</th><th scope="col" class="num">Weight</th><th scope="col" class="num">Contribution</th></tr></thead>
<tbody>{{range .Components}}<tr><th scope="row">{{.Name}} <span class="muted">({{.Symbol}}: {{.Explain}})</span></th><td class="num">{{.Value}}</td>
{{if .ReferenceAvailable}}<td class="num">{{.Reference}}</td><td class="num">{{f3 .Saturated}}</td><td class="num">{{f2 .Weight}}</td><td class="num">{{f3 .Contribution}}</td>{{else}}<td class="num muted">–</td><td class="num muted">–</td><td class="num muted">–</td><td class="num muted">–</td>{{end}}</tr>
{{end}}</tbody>
<tfoot><tr><th scope="row">Affinity score</th><td colspan="4" class="muted">{{if .HasWeights}}sum of the contributions{{if .Clamped}} ({{f3 .Sum}}, clamped to [0, 1]){{end}}{{if .Mismatch}} — <strong class="bad">the contributions add up to {{f3 .Sum}}, not to the score: this page and the daemon's formula differ</strong>{{end}}{{else}}weights not available: the daemon did not pass them{{end}}</td><td class="num score">{{f3 .Topic.Score}}</td></tr></tfoot>
</table></div>
<h3>Other signals (not part of the score)</h3>
<table>
<caption class="vh">Other signals of the topic</caption>
<tbody>
<tr><th scope="row">Momentum</th><td class="num">{{f2 .Topic.Momentum}}×</td><td class="muted">mention rate against the baseline ({{.Topic.BaselineMentions}} mentions before the window)</td></tr>
<tr><th scope="row">Sentiment</th><td class="num">{{signed .Topic.Sentiment}}</td><td class="muted">(positive − negative) / mentions, in [−1, 1]</td></tr>
{{range .Formats}}<tr><th scope="row">Mentions in {{.Format}}</th><td class="num">{{.Count}}</td><td class="muted">in the window</td></tr>{{end}}
{{range .Totals}}<tr><th scope="row">Stored mentions in {{.Format}}</th><td class="num">{{.Count}}</td><td class="muted">since the database was created</td></tr>{{end}}
</tbody></table>
</section>

<section aria-labelledby="sov">
<h2 id="sov">Share of voice</h2>
<p class="meta">Share of the brand mentions in posts matching the topic. Sentiment is the net sentiment (positive − negative) / posts of the topic that mention the brand, in [−1, 1].{{if .Threshold}} A competitor occupies the topic at {{pct .Threshold}} or more while the topic has at least {{.MinMentions}} mentions.{{end}}</p>
<table>
<caption class="vh">Share of voice per brand</caption>
<thead><tr><th scope="col">Brand</th><th scope="col">Kind</th><th scope="col" class="num">Share</th><th scope="col" class="num">Sentiment</th><th scope="col" style="width:40%">Bar</th></tr></thead>
<tbody>{{range .SoV}}<tr><th scope="row">{{.Brand}}{{if .Leader}} <span class="badge">leader</span>{{end}}{{if .Occupies}} <span class="badge bad">occupies</span>{{end}}</th><td>{{.Kind}}</td><td class="num">{{pct .Share}}</td>
<td class="num brand-sentiment">{{if .HasSentiment}}{{$tone := tone .Sentiment}}<span{{if eq $tone "positive"}} class="good"{{else if eq $tone "negative"}} class="bad"{{end}}>{{signed .Sentiment}} {{$tone}}</span>{{else if .Share}}<span class="muted">– not available</span>{{else}}<span class="muted">– not mentioned</span>{{end}}</td>
<td><div class="bar sov-bar" aria-hidden="true"><span{{if .Occupies}} class="occ"{{end}} style="width: {{barWidth .Share}}%"></span></div></td></tr>
{{end}}</tbody></table>
</section>

<section aria-labelledby="terms">
<h2 id="terms">Terms</h2>
{{if not .Terms.Available}}<p class="muted">Top and emerging terms and co-mentioned organisations: not available yet (term extraction is not wired in this daemon).</p>
{{else if .Terms.Err}}<p class="bad">Terms could not be loaded; see the daemon's log.</p>
{{else}}<div class="cols">
<div><h3>Top terms</h3>{{template "terms" .Terms.Top}}</div>
<div><h3>Emerging terms</h3>{{template "terms" .Terms.Emerging}}</div>
<div><h3>Organisations not configured</h3>{{template "terms" .Terms.Organisations}}</div>
</div>{{end}}
</section>

<section aria-labelledby="evidence">
<h2 id="evidence">Evidence</h2>
{{if .EvidenceNone}}<p class="muted">Evidence posts are not available in this daemon.</p>
{{else if .EvidenceErr}}<p class="bad">Evidence could not be loaded; see the daemon's log.</p>
{{else}}{{if .AnyCopies}}<p class="meta">“+N copies”: near-duplicates (reposts, cross-posts, syndicated copies) collapse into the earliest-dated of them, which counts as one mention.</p>{{end}}
<div class="cols">
<div><h3>Latest posts</h3>{{template "posts" .Latest}}</div>
<div><h3>Most engaging posts</h3>{{if .Engaging}}{{template "posts" .Engaging}}{{else}}<p class="muted">No reactions recorded on the recent posts.</p>{{end}}</div>
</div>{{end}}
</section>
{{end}}
{{define "terms"}}{{if .}}<ol class="terms">{{range .}}<li>{{.Term}} <span class="muted">({{.Count}})</span></li>{{end}}</ol>{{else}}<p class="muted">None in this window.</p>{{end}}{{end}}
{{define "posts"}}{{if .}}<ul class="posts">{{range .}}<li><p class="text">{{.Text}}</p>
<p class="by">{{if .Author}}{{.Author}}{{else}}unknown author{{end}} · {{.Source}} ({{.Format}}) · <time datetime="{{iso .Published}}">{{ts .Published}}</time>{{if .Weight}} · {{.Engagement.Likes}} likes, {{.Engagement.Reposts}} reposts, {{.Engagement.Replies}} replies{{if .Engagement.Score}}, {{.Engagement.Score}} points{{end}}{{end}}{{if .Copies}} · <span class="badge copies" title="Near-duplicates (reposts, cross-posts, syndicated copies) collapse into this post: they count as one mention">{{copies .Copies}}<span class="vh"> collapsed into this post as near-duplicates</span></span>{{end}}
· {{if .Href}}<a href="{{.Href}}" rel="nofollow noreferrer noopener">open post<span class="vh"> by {{.Author}} on {{.Source}}</span></a>{{else if .RawURL}}link (not http/https, not linked): <code>{{.RawURL}}</code>{{else}}no link{{end}}</p></li>
{{end}}</ul>{{else}}<p class="muted">No posts matched this topic yet.</p>{{end}}{{end}}`

const sourcesHTML = `{{define "content"}}
<h1>Sources</h1>
<p class="meta">Every configured source, as the last fetch left it. Times are UTC. Counts are since the daemon started; near-duplicates are new posts stored as copies of another post (reposts, cross-posts, syndicated copies), each counted once with its original.</p>
{{if .Sources}}<div class="scroll" role="region" aria-label="Sources" tabindex="0">
<table class="cards">
<caption class="vh">Sources and their state</caption>
<thead><tr><th scope="col">Source</th><th scope="col">Kind</th><th scope="col">Format</th><th scope="col">State</th><th scope="col">Last success</th>
<th scope="col">Last error</th><th scope="col" class="num">Posts new / fetched</th><th scope="col" class="num">Near-duplicates</th><th scope="col" class="num">Fetches / failures</th><th scope="col">Next run</th></tr></thead>
<tbody>{{range .Sources}}<tr>
<th scope="row" data-label="Source">{{.Name}}</th><td data-label="Kind">{{.Kind}}</td><td data-label="Format">{{.Format}}</td>
<td data-label="State">{{template "state" .}}</td>
<td data-label="Last success"><time datetime="{{iso .LastSuccess}}">{{ts .LastSuccess}}</time></td>
<td data-label="Last error">{{if .LastError}}<span class="bad">{{.LastReason}}</span>: {{.LastError}}{{else}}<span class="muted">none</span>{{end}}</td>
<td data-label="Posts new / fetched" class="num">{{.PostsNew}} / {{.PostsScanned}}</td>
<td data-label="Near-duplicates" class="num near-dup">{{.PostsNearDuplicate}}</td>
<td data-label="Fetches / failures" class="num">{{.Fetches}} / {{.Failures}}</td>
<td data-label="Next run">{{if .NextRun.IsZero}}<span class="muted">not scheduled</span>{{else}}<time datetime="{{iso .NextRun}}">{{ts .NextRun}}</time>{{end}}</td>
</tr>
{{end}}</tbody></table></div>
{{else}}<p>No sources are configured.</p>{{end}}
{{end}}`

// partsHTML are pieces several pages use.
const partsHTML = `{{define "state"}}{{if .Up}}<span class="good">up</span>{{else if .Fetches}}<span class="bad">down</span>{{else}}<span class="muted">pending</span>{{end}}{{end}}
{{define "spark"}}<svg class="spark" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Label}}"><title>{{.Label}}</title>
<line x1="0" y1="{{.Height}}" x2="{{.Width}}" y2="{{.Height}}"></line>{{if .HasHistory}}{{if not .Single}}<polyline points="{{.Points}}"></polyline>{{end}}<circle cx="{{printf "%.1f" .LastX}}" cy="{{printf "%.1f" .LastY}}" r="2.5"></circle>{{end}}</svg>{{end}}`
