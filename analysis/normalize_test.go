package analysis

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text stays", "Great support from Acme", "Great support from Acme"},
		{"case is kept", "ACME Bank", "ACME Bank"},
		{"whitespace collapses and trims", "  a \t b\n\n c  ", "a b c"},
		{"nested html", "<div><ul><li><p>Customer <b>service</b></p></li><li>was <em>great</em></li></ul></div>", "Customer service was great"},
		{"block elements and br separate words", "<p>one</p><p>two</p>three<br>four<br/>five", "one two three four five"},
		{"inline elements join words", "un<b>believ</b>able", "unbelievable"},
		{"script style noscript dropped", `a<script>var x = "<p>acme</p>";</script>b<style>p{color:red}</style>c<noscript>enable js</noscript>d`, "a b c d"},
		{"hostile script", `<SCRIPT SRC=//evil.js>document.write("<p>acme</p>")</SCRIPT><script>x='</p>'</script>ok`, "ok"},
		{"broken tag is text, as a browser shows it", `<scr<script>ipt>alert(1)</script>ok`, "ipt>alert(1) ok"},
		{"unclosed script drops the rest", "visible<script>alert('acme')", "visible"},
		{"comments dropped", "a <!-- acme -->b", "a b"},
		{"entities in html", "<p>AT&amp;T &eacute;l&egrave;ve don&#8217;t</p>", "AT&T élève don’t"},
		{"entities in plain text", "AT&amp;T caf&eacute; don&#8217;t &lt;3", "AT&T café don’t <3"},
		{"double escaped decodes once", "&amp;eacute;", "&eacute;"},
		{"plain text with angle brackets", "I <3 Acme, a < b", "I <3 Acme, a < b"},
		{"urls removed", "see https://example.org/acme-bank/customer-service?x=1 and http://a.b now", "see and now"},
		{"www urls removed", "visit www.acme.com/help or WWW.Acme.com today", "visit or today"},
		{"link text url removed", `<a href="https://acme.com">https://acme.com/x</a> great`, "great"},
		{"nfc", "Cafe\u0301 Zu\u0308rich", "Café Zürich"},
		{"control chars out", "a\x00b\x07c\u202Ed\u200Be", "abcd e"},
		{"soft hyphen joins", "cus\u00ADtomer", "customer"},
		{"nbsp is a space", "a&nbsp;b\u00A0c", "a b c"},
		{"invalid utf8 repaired", "caf\xe9 ok", "caf\uFFFD ok"},
		{"emoji kept", "love it 🔥👍🏽", "love it 🔥👍🏽"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeHostile(t *testing.T) {
	inputs := map[string]string{
		"deep nesting":   strings.Repeat("<div><span>", 40000) + "acme" + strings.Repeat("</span></div>", 40000),
		"huge":           strings.Repeat("acme support ", 200000),
		"invalid utf8":   strings.Repeat("\xff\xfe<p>\xc3", 10000),
		"unclosed tags":  strings.Repeat("<a href='", 10000),
		"many entities":  strings.Repeat("&amp;&#x1F525;&#0;&bogus;", 10000),
		"raw text games": strings.Repeat("<script><!--<script></script>", 10000),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			got := Normalize(in)
			if !utf8.ValidString(got) || !norm.NFC.IsNormalString(got) {
				t.Errorf("output not valid NFC UTF-8")
			}
			if len(got) > MaxTextBytes+MaxTextBytes/2 {
				t.Errorf("output %d bytes, input cap is %d", len(got), MaxTextBytes)
			}
			if strings.Contains(got, "  ") || strings.TrimSpace(got) != got {
				t.Errorf("whitespace not collapsed")
			}
		})
	}
	if got := Normalize(inputs["deep nesting"]); got != "acme" {
		t.Errorf("deep nesting = %q, want %q", got, "acme")
	}
}
