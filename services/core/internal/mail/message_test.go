package mail

import (
	"bytes"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/contracts"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, rewriting the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test with -update to create %s", path)
	require.Equal(t, string(want), string(got), "differs from %s (refresh with -update if intended)", path)
}

func fixedEnvelope(name string) envelope {
	return envelope{
		from:      mail.Address{Name: name, Address: "no-reply@example.com"},
		date:      time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("", 3600)),
		messageID: "<0123456789abcdef@example.com>",
		boundary:  "authbus-boundary-0123456789",
	}
}

func TestBuildMessageGolden(t *testing.T) {
	longURL := "https://auth.example.com/api/auth/verify-email?token=" + strings.Repeat("eyJhbGciOiJIUzI1NiJ9", 8) + "&callbackURL=%2Fdashboard"
	tests := []struct {
		name     string
		fromName string
		m        contracts.Email
	}{
		{"text-and-html", "Acme", contracts.Email{
			To: "ada@example.com", Subject: "Verify your email address for Acme",
			Text: "Hello,\n\nopen this:\n\n" + longURL + "\n", HTML: `<p><a href="` + longURL + `">Verify</a></p>`,
		}},
		{"text-only", "", contracts.Email{
			To: "ada@example.com", Subject: "Plain", Text: "line one\r\n.line starting with a dot\nno final newline",
		}},
		{"html-only", "Acme Corp, Inc.", contracts.Email{
			To: "ada@example.com", Subject: "Only HTML", HTML: "<p>Hi</p>",
		}},
		{"non-ascii", "Équipe Café ☕", contracts.Email{
			To: "ada@example.com", Subject: "Vérifiez votre adresse e-mail — merci ✓ 日本語のテキストもここにあります、長い件名",
			Text: "Grüße, naïve café ☕ =equals= and trailing space \nnext", HTML: "<p>Grüße ☕</p>",
		}},
		{"ascii-encoded-word-lookalike", "", contracts.Email{
			To: "ada@example.com", Subject: "=?utf-8?q?not_an_encoded_word?= is literal", Text: "x",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, CheckMessage(tc.m))
			raw, err := buildMessage(fixedEnvelope(tc.fromName), tc.m)
			require.NoError(t, err)
			golden(t, "message/"+tc.name+".eml", raw)
			checkWellFormed(t, raw)

			// What a mail reader sees.
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			require.NoError(t, err)
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, tc.m.Subject, subject)
			from, err := msg.Header.AddressList("From")
			require.NoError(t, err)
			require.Equal(t, []*mail.Address{{Name: tc.fromName, Address: "no-reply@example.com"}}, from)
			to, err := msg.Header.AddressList("To")
			require.NoError(t, err)
			require.Equal(t, []*mail.Address{{Address: tc.m.To}}, to)
			date, err := msg.Header.Date()
			require.NoError(t, err)
			require.True(t, date.Equal(fixedEnvelope("").date))
			require.Equal(t, "1.0", msg.Header.Get("MIME-Version"))
			require.Equal(t, "<0123456789abcdef@example.com>", msg.Header.Get("Message-ID"))

			text, html := readBodies(t, msg)
			require.Equal(t, normalize(tc.m.Text), text)
			require.Equal(t, normalize(tc.m.HTML), html)
		})
	}
}

// normalize is what a body looks like after the trip: LF line ends, a final one.
func normalize(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

func readBodies(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	read := func(r io.Reader) string {
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		return strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	if mediaType == "multipart/alternative" {
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			p, err := mr.NextPart() // decodes quoted-printable
			if err == io.EOF {
				return text, html
			}
			require.NoError(t, err)
			ct, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			require.NoError(t, err)
			if ct == "text/plain" {
				text = read(p)
			} else {
				html = read(p)
			}
		}
	}
	require.Equal(t, "quoted-printable", msg.Header.Get("Content-Transfer-Encoding"))
	body := read(quotedprintable.NewReader(msg.Body))
	if mediaType == "text/html" {
		return "", body
	}
	return body, ""
}

// checkWellFormed asserts CRLF line ends only and RFC 5322 line lengths: 998 at
// most, and header lines within 78 unless a single word is longer.
func checkWellFormed(t *testing.T, raw []byte) {
	t.Helper()
	require.True(t, bytes.HasSuffix(raw, []byte("\r\n")))
	inHeader := true
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
		require.NotContains(t, line, "\n", "bare LF")
		require.NotContains(t, line, "\r", "bare CR")
		require.LessOrEqual(t, len(line), 998)
		if line == "" {
			inHeader = false
		}
		if inHeader && len(line) > 78 {
			require.NotContains(t, strings.TrimSpace(line[strings.Index(line, ":")+1:]), " ", "foldable header line longer than 78: %q", line)
		}
		if !inHeader {
			require.LessOrEqual(t, len(line), 76, "quoted-printable line longer than 76: %q", line)
		}
		for _, r := range line {
			require.Less(t, r, rune(0x80), "non-ASCII byte on the wire: %q", line)
		}
	}
}

func TestCheckMessage(t *testing.T) {
	ok := contracts.Email{To: "ada@example.com", Subject: "Hi", Text: "x"}
	with := func(f func(*contracts.Email)) contracts.Email {
		m := ok
		f(&m)
		return m
	}
	tests := []struct {
		name string
		m    contracts.Email
		want string // "" = valid
	}{
		{"valid", ok, ""},
		{"html only", with(func(m *contracts.Email) { m.Text, m.HTML = "", "<p>x</p>" }), ""},
		{"non-ascii subject", with(func(m *contracts.Email) { m.Subject = "Grüße ✓" }), ""},
		{"tab in subject", with(func(m *contracts.Email) { m.Subject = "a\tb" }), "control character"},
		{"empty to", with(func(m *contracts.Email) { m.To = "" }), "empty recipient"},
		{"to with CRLF header injection", with(func(m *contracts.Email) { m.To = "ada@example.com\r\nBcc: eve@example.com" }), "line break"},
		{"to with LF", with(func(m *contracts.Email) { m.To = "ada@example.com\nBcc: eve@example.com" }), "line break"},
		{"to with bare CR", with(func(m *contracts.Email) { m.To = "ada@example.com\rX" }), "line break"},
		{"to with name", with(func(m *contracts.Email) { m.To = "Ada <ada@example.com>" }), "bare address"},
		{"to list", with(func(m *contracts.Email) { m.To = "ada@example.com, eve@example.com" }), "not an email address"},
		{"to with angle brackets", with(func(m *contracts.Email) { m.To = "<ada@example.com>" }), "bare address"},
		{"to not an address", with(func(m *contracts.Email) { m.To = "ada" }), "not an email address"},
		{"to non-ascii", with(func(m *contracts.Email) { m.To = "jürgen@example.com" }), "internationalized"},
		{"subject with CRLF header injection", with(func(m *contracts.Email) { m.Subject = "Hi\r\nBcc: eve@example.com" }), "line break"},
		{"subject with LF", with(func(m *contracts.Email) { m.Subject = "Hi\nthere" }), "line break"},
		{"subject with NUL", with(func(m *contracts.Email) { m.Subject = "Hi\x00" }), "control character"},
		{"empty subject", with(func(m *contracts.Email) { m.Subject = "" }), "subject: empty"},
		{"blank subject", with(func(m *contracts.Email) { m.Subject = "   " }), "subject: empty"},
		{"subject too long", with(func(m *contracts.Email) { m.Subject = strings.Repeat("a", MaxSubjectBytes+1) }), "longer than"},
		{"subject bad utf-8", with(func(m *contracts.Email) { m.Subject = "a\xffb" }), "UTF-8"},
		{"no body", with(func(m *contracts.Email) { m.Text = "" }), "no text or HTML body"},
		{"body bad utf-8", with(func(m *contracts.Email) { m.Text = "\xff" }), "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckMessage(tc.m)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidMessage)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestEncodeSubject(t *testing.T) {
	tests := []struct {
		name    string
		subject string
		encoded bool
	}{
		{"ascii stays", "Reset your password", false},
		{"ascii punctuation stays", `Hello "you" (x) _x_ = ? ?=`, false},
		{"encoded-word lookalike is encoded", "=?utf-8?b?SGk=?=", true},
		{"latin", "Vérifiez", true},
		{"emoji and cjk", "✓ 日本語 🎉 done", true},
		{"long non-ascii", strings.Repeat("é", 200), true},
		{"specials", "é=?_ \"x\"", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := encodeSubject(tc.subject)
			if !tc.encoded {
				require.Equal(t, tc.subject, enc)
				return
			}
			for _, w := range strings.Split(enc, " ") {
				require.LessOrEqual(t, len(w), 75, "encoded word %q", w)
				require.True(t, strings.HasPrefix(w, "=?utf-8?q?") && strings.HasSuffix(w, "?="), w)
			}
			dec, err := new(mime.WordDecoder).DecodeHeader(enc)
			require.NoError(t, err)
			require.Equal(t, tc.subject, dec)
		})
	}
}

func TestNewEnvelope(t *testing.T) {
	a := newEnvelope(mail.Address{Address: "no-reply@mail.example.com"}, time.Now())
	b := newEnvelope(mail.Address{Address: "no-reply@mail.example.com"}, time.Now())
	require.NotEqual(t, a.messageID, b.messageID)
	require.NotEqual(t, a.boundary, b.boundary)
	require.True(t, strings.HasSuffix(a.messageID, "@mail.example.com>"), a.messageID)
	require.True(t, strings.HasPrefix(a.messageID, "<"), a.messageID)
}

// FuzzBuildMessage checks that whatever passes CheckMessage builds a message
// whose header holds exactly the headers we wrote (no injected ones), whose
// subject and recipient read back unchanged, and whose body survives.
func FuzzBuildMessage(f *testing.F) {
	f.Add("ada@example.com", "Hello", "body", "")
	f.Add("ada@example.com\r\nBcc: eve@example.com", "Hi", "x", "<p>x</p>")
	f.Add("ada@example.com", "Hi\r\nBcc: eve@example.com", "x", "")
	f.Add("ada@example.com", "=?utf-8?q?x?= é", ".\r\n.\r\n", "<p>é</p>")
	f.Add(`"a b"@example.com`, strings.Repeat("ü", 300), "line\rline\n", "")
	f.Fuzz(func(t *testing.T, to, subject, text, html string) {
		m := contracts.Email{To: to, Subject: subject, Text: text, HTML: html}
		if CheckMessage(m) != nil {
			return
		}
		raw, err := buildMessage(fixedEnvelope("Fuzz"), m)
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("read back: %v\n%q", err, raw)
		}
		want := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
		if text == "" || html == "" {
			want = append(want, "Content-Transfer-Encoding")
		}
		var got []string
		for k := range msg.Header {
			got = append(got, k)
		}
		require.ElementsMatch(t, want, got, "%q", raw)
		dec, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		require.NoError(t, err)
		// Readers trim white space around an unencoded header value.
		require.Equal(t, strings.TrimSpace(subject), strings.TrimSpace(dec))
		addrs, err := msg.Header.AddressList("To")
		require.NoError(t, err)
		require.Len(t, addrs, 1)
		require.Equal(t, to, addrs[0].Address)
		gotText, gotHTML := readBodies(t, msg)
		require.Equal(t, normalizeAll(text), gotText)
		require.Equal(t, normalizeAll(html), gotHTML)
	})
}

// normalizeAll is normalize for any line break: quoted-printable sends CR, LF
// and CRLF alike as CRLF.
func normalizeAll(s string) string {
	return normalize(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"))
}
