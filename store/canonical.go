package store

import (
	"net"
	"net/url"
	"strings"
)

// trackingParams are query parameters that say how a reader arrived, not what
// they read, so two links differing only in them name the same post:
//
//	utm_*                    Google Analytics campaign tags (any utm_ prefix)
//	fbclid, igshid           Facebook, Instagram click/share ids
//	gclid, dclid             Google Ads, DoubleClick click ids
//	msclkid                  Microsoft Ads click id
//	yclid                    Yandex click id
//	mc_cid, mc_eid           Mailchimp campaign and subscriber ids
//	_hsenc, _hsmi            HubSpot email tracking
//	ref, ref_src, ref_url    referrer tags (Twitter/X, Product Hunt, many blogs)
//	si                       YouTube/Spotify share id
//	spm                      Alibaba/Taobao tracking
//	cmpid                    campaign id (news sites)
//
// Keys match case-insensitively. "ref" and "si" are meaningful on a few sites;
// for dedup of social posts the false merges they could cause are rarer than
// the misses keeping them would.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "dclid": true, "msclkid": true,
	"mc_cid": true, "mc_eid": true, "igshid": true,
	"ref": true, "ref_src": true, "ref_url": true,
	"si": true, "spm": true, "_hsenc": true, "_hsmi": true,
	"yclid": true, "cmpid": true,
}

func isTrackingParam(key string) bool {
	k := strings.ToLower(key)
	return strings.HasPrefix(k, "utm_") || trackingParams[k]
}

// CanonicalURL returns the form of raw under which the store recognizes the
// same post linked from different sources: lower-case scheme and host, no
// default port, userinfo, fragment or tracking parameters, the remaining query
// parameters sorted by key (values of a repeated key keep their order) and no
// trailing slash except on the root path. It returns "" for an empty,
// unparseable or non-http(s) URL, and for a query with malformed escapes:
// such a post is then deduplicated by (source, id) alone.
//
// Path case and percent-encoding are kept: servers may treat them as distinct.
func CanonicalURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return ""
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" || strings.Contains(host, ":") {
		// JoinHostPort brackets IPv6 literals; an empty port is trimmed back off.
		host = strings.TrimSuffix(net.JoinHostPort(host, port), ":")
	}

	p := strings.TrimRight(u.EscapedPath(), "/")
	if p == "" {
		p = "/"
	}

	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	b.WriteString(p)
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return ""
		}
		for k := range q {
			if isTrackingParam(k) {
				delete(q, k)
			}
		}
		if len(q) > 0 {
			b.WriteByte('?')
			b.WriteString(q.Encode()) // sorted by key, escapes normalized
		}
	}
	return b.String()
}
