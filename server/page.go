package server

import "strconv"

func formatFloat(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }

const statusHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>affinityd</title>
<style>
body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:70rem;padding:0 1rem;color:#1a1a1a}
table{border-collapse:collapse;width:100%;margin-bottom:2rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd}
th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}.down{color:#a00}
</style></head><body>
<h1>affinityd</h1>
{{with .Snapshot}}
<p>Scores over {{.Window.From.Format "2006-01-02 15:04"}} – {{.Window.To.Format "2006-01-02 15:04 MST"}}, computed {{.Computed.Format "15:04:05"}}.</p>
<table><caption>Topics</caption>
<thead><tr><th scope="col">Relationship</th><th scope="col">Type</th><th scope="col">Topic</th><th scope="col">Priority</th>
<th scope="col" class="num">Affinity</th><th scope="col" class="num">Mentions</th><th scope="col" class="num">Authors</th>
<th scope="col" class="num">Formats</th><th scope="col" class="num">Momentum</th><th scope="col">Leader (share of voice)</th></tr></thead>
<tbody>{{range .Topics}}<tr><td>{{.Relationship}}</td><td>{{.RelationshipType}}</td><td><a href="api/v1/topics/{{.Topic}}">{{.Topic}}</a></td><td>{{.Priority}}</td>
<td class="num">{{f2 .Score}}</td><td class="num">{{.Mentions}}</td><td class="num">{{.Authors}}</td><td class="num">{{.FormatsPresent}}/3</td>
<td class="num">{{f2 .Momentum}}</td><td>{{if .Leader}}{{.Leader}} ({{pct (index .ShareOfVoice .Leader)}}){{else}}–{{end}}</td></tr>
{{end}}</tbody></table>
{{else}}<p>No scores computed yet.</p>{{end}}
<table><caption>Sources</caption>
<thead><tr><th scope="col">Source</th><th scope="col">Kind</th><th scope="col">Format</th><th scope="col">State</th><th scope="col">Last success</th>
<th scope="col" class="num">Posts new / seen</th><th scope="col">Last error</th></tr></thead>
<tbody>{{range .Sources}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Format}}</td>
<td>{{if .Up}}up{{else if .Fetches}}<span class="down">down</span>{{else}}pending{{end}}</td>
<td>{{if .LastSuccess.IsZero}}never{{else}}{{.LastSuccess.Format "2006-01-02 15:04:05"}}{{end}}</td>
<td class="num">{{.PostsNew}} / {{.PostsScanned}}</td><td>{{.LastError}}</td></tr>
{{end}}</tbody></table>
<p><a href="metrics">Metrics</a> · <a href="api/v1/topics">Topics API</a> · <a href="api/v1/sources">Sources API</a></p>
</body></html>
`
