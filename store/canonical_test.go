package store

import "testing"

func TestCanonicalURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"blank", "   ", ""},
		{"unparseable", "http://[::1", ""},
		{"not http", "ftp://example.com/file", ""},
		{"mailto", "mailto:someone@example.com", ""},
		{"relative", "/just/a/path", ""},
		{"no host", "https:///path", ""},
		{"already canonical", "https://example.com/a/b?x=1", "https://example.com/a/b?x=1"},
		{"scheme and host lower-cased, path kept", "HTTPS://Example.COM/Path/To", "https://example.com/Path/To"},
		{"http default port", "http://example.com:80/a", "http://example.com/a"},
		{"https default port", "https://example.com:443/a", "https://example.com/a"},
		{"non-default port kept", "https://example.com:8443/a", "https://example.com:8443/a"},
		{"http port 443 is not default", "http://example.com:443/a", "http://example.com:443/a"},
		{"empty port", "https://example.com:/a", "https://example.com/a"},
		{"fragment dropped", "https://example.com/a#comments", "https://example.com/a"},
		{"userinfo dropped", "https://user:pw@example.com/a", "https://example.com/a"},
		{"utm parameters stripped", "https://example.com/a?utm_source=x&utm_medium=y&utm_campaign=z&id=7", "https://example.com/a?id=7"},
		{"tracking keys case-insensitive", "https://example.com/a?UTM_Source=x&FBCLID=1", "https://example.com/a"},
		{"click ids stripped", "https://example.com/a?gclid=1&dclid=2&msclkid=3&yclid=4&fbclid=5&igshid=6", "https://example.com/a"},
		{"newsletter and referrer ids stripped", "https://example.com/a?mc_cid=1&mc_eid=2&_hsenc=3&_hsmi=4&ref=hn&ref_src=twsrc&ref_url=x&si=abc&spm=a.b&cmpid=9", "https://example.com/a"},
		{"query sorted", "https://example.com/a?b=2&a=1&c=3", "https://example.com/a?a=1&b=2&c=3"},
		{"repeated key keeps value order", "https://example.com/a?t=2&a=1&t=1", "https://example.com/a?a=1&t=2&t=1"},
		{"query escapes normalized", "https://example.com/s?q=a%20b", "https://example.com/s?q=a+b"},
		{"bare key gets =", "https://example.com/a?amp", "https://example.com/a?amp="},
		{"malformed query escape", "https://example.com/a?q=%zz", ""},
		{"trailing slash removed", "https://example.com/a/b/", "https://example.com/a/b"},
		{"several trailing slashes removed", "https://example.com/a//", "https://example.com/a"},
		{"root keeps its slash", "https://example.com/", "https://example.com/"},
		{"empty path becomes root", "https://example.com", "https://example.com/"},
		{"root with only tracking query", "https://example.com/?utm_source=x", "https://example.com/"},
		{"trailing dot of host dropped", "https://example.com./a", "https://example.com/a"},
		{"IPv6 literal", "http://[2001:DB8::1]:80/a", "http://[2001:db8::1]/a"},
		{"IPv6 literal with port", "http://[2001:db8::1]:8080/a", "http://[2001:db8::1]:8080/a"},
		{"path escapes kept", "https://example.com/a%2Fb/", "https://example.com/a%2Fb"},
		{"surrounding space trimmed", "  https://example.com/a  ", "https://example.com/a"},
		{"everything at once", "HTTPS://bob@News.Example.org:443/story/42/?utm_source=rss&b=2&a=1#top", "https://news.example.org/story/42?a=1&b=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CanonicalURL(tt.in); got != tt.want {
				t.Errorf("CanonicalURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// Canonicalizing is idempotent: a stored canonical URL maps to itself.
			if tt.want != "" {
				if again := CanonicalURL(tt.want); again != tt.want {
					t.Errorf("CanonicalURL(%q) = %q, not idempotent", tt.want, again)
				}
			}
		})
	}
}
