package origin

import (
	"net/http"
	"testing"
)

var benchPolicy = New([]string{
	"http://localhost:3000", "https://app.example.com", "*.preview.example.com", "https://*.example.net", "myapp://",
}, Options{})

// BenchmarkCheckRequest is the check on every cookie-bearing POST from the
// app's own origin.
func BenchmarkCheckRequest(b *testing.B) {
	h := http.Header{"Cookie": {"better-auth.session_token=x"}, "Origin": {"https://app.example.com"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := benchPolicy.CheckRequest(http.MethodPost, h, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckRequestWildcard goes past the exact patterns to a wildcard.
func BenchmarkCheckRequestWildcard(b *testing.B) {
	h := http.Header{"Cookie": {"better-auth.session_token=x"}, "Origin": {"https://pr-42.preview.example.com"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := benchPolicy.CheckRequest(http.MethodPost, h, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckRequestUntrusted(b *testing.B) {
	h := http.Header{"Cookie": {"better-auth.session_token=x"}, "Origin": {"https://evil.example.org"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := benchPolicy.CheckRequest(http.MethodPost, h, ""); err == nil {
			b.Fatal("trusted")
		}
	}
}

func BenchmarkCheckParamsRelative(b *testing.B) {
	p := Params{CallbackURL: "/dashboard?tab=1"}
	b.ReportAllocs()
	for b.Loop() {
		if err := benchPolicy.CheckParams(http.MethodPost, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckParamsAbsolute(b *testing.B) {
	p := Params{CallbackURL: "https://app.example.com/welcome?x=1"}
	b.ReportAllocs()
	for b.Loop() {
		if err := benchPolicy.CheckParams(http.MethodPost, p); err != nil {
			b.Fatal(err)
		}
	}
}
