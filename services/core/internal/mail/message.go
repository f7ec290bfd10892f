package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authbus/authbus/pkg/contracts"
)

// MaxSubjectBytes is the longest subject CheckMessage accepts, so that a header
// line never nears RFC 5322's 998-character limit.
const MaxSubjectBytes = 900

// CheckMessage reports why m cannot be sent, wrapping ErrInvalidMessage. It is
// what keeps header injection out: the recipient must be one bare address and the
// subject must not contain a line break or any other control character.
func CheckMessage(m contracts.Email) error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
	}
	if m.To == "" {
		return invalid("to: empty recipient")
	}
	if err := checkAddress(m.To); err != nil {
		return invalid("to: %v", err)
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		return invalid("subject: empty")
	case !utf8.ValidString(m.Subject):
		return invalid("subject: not valid UTF-8")
	case strings.ContainsAny(m.Subject, "\r\n"):
		return invalid("subject: contains a line break")
	case hasControl(m.Subject):
		return invalid("subject: contains a control character")
	case len(m.Subject) > MaxSubjectBytes:
		return invalid("subject: longer than %d bytes", MaxSubjectBytes)
	}
	if m.Text == "" && m.HTML == "" {
		return invalid("no text or HTML body")
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return invalid("body: not valid UTF-8")
	}
	return nil
}

// envelope is what buildMessage needs besides the message itself; tests fix
// every field to compare against golden files.
type envelope struct {
	from      mail.Address
	date      time.Time
	messageID string
	boundary  string
}

func newEnvelope(from mail.Address, now time.Time) envelope {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return envelope{
		from:      from,
		date:      now,
		messageID: "<" + hex.EncodeToString(b[:12]) + "@" + domain + ">",
		boundary:  "authbus-" + hex.EncodeToString(b[12:]),
	}
}

// buildMessage renders m as an RFC 5322 message with CRLF line endings:
// quoted-printable UTF-8 bodies, multipart/alternative when both text and HTML
// are set, RFC 2047 encoded words for a non-ASCII subject or sender name.
// m must have passed CheckMessage.
func buildMessage(env envelope, m contracts.Email) ([]byte, error) {
	var b bytes.Buffer
	writeHeader(&b, "Date", env.date.Format(time.RFC1123Z))
	writeHeader(&b, "From", env.from.String())
	writeHeader(&b, "To", (&mail.Address{Address: m.To}).String())
	writeHeader(&b, "Subject", encodeSubject(m.Subject))
	writeHeader(&b, "Message-ID", env.messageID)
	writeHeader(&b, "MIME-Version", "1.0")
	// RFC 3834: no vacation auto-replies to a machine-sent message.
	writeHeader(&b, "Auto-Submitted", "auto-generated")

	switch {
	case m.Text != "" && m.HTML != "":
		mw := multipart.NewWriter(&b)
		if err := mw.SetBoundary(env.boundary); err != nil {
			return nil, fmt.Errorf("mail: build: %w", err)
		}
		writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": env.boundary}))
		b.WriteString("\r\n")
		// Least preferred first (RFC 2046 §5.1.4): clients show the HTML part.
		for _, p := range []struct{ ctype, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
			w, err := mw.CreatePart(textproto.MIMEHeader{
				"Content-Type":              {p.ctype + "; charset=utf-8"},
				"Content-Transfer-Encoding": {"quoted-printable"},
			})
			if err != nil {
				return nil, fmt.Errorf("mail: build: %w", err)
			}
			if err := writeQP(w, p.body); err != nil {
				return nil, fmt.Errorf("mail: build: %w", err)
			}
		}
		if err := mw.Close(); err != nil {
			return nil, fmt.Errorf("mail: build: %w", err)
		}
	default:
		ctype, body := "text/plain", m.Text
		if body == "" {
			ctype, body = "text/html", m.HTML
		}
		writeHeader(&b, "Content-Type", ctype+"; charset=utf-8")
		writeHeader(&b, "Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, body); err != nil {
			return nil, fmt.Errorf("mail: build: %w", err)
		}
	}
	return b.Bytes(), nil
}

// writeQP writes body quoted-printable with CRLF line breaks (the encoder turns
// LF, CR and CRLF alike into CRLF) and ends it with a line break.
func writeQP(w interface{ Write([]byte) (int, error) }, body string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(body)); err != nil {
		return err
	}
	if !strings.HasSuffix(body, "\n") && !strings.HasSuffix(body, "\r") {
		if _, err := qp.Write([]byte("\r\n")); err != nil {
			return err
		}
	}
	return qp.Close()
}

// writeHeader writes "name: value" folded at spaces so lines stay within 78
// characters where the value allows it (encoded words are at most 75).
func writeHeader(b *bytes.Buffer, name, value string) {
	const limit = 78
	line := len(name) + 2
	b.WriteString(name)
	b.WriteString(": ")
	for i, word := range strings.Split(value, " ") {
		if i > 0 {
			// Never fold before an empty word: a line of only white space is not allowed.
			if line+1+len(word) > limit && word != "" {
				b.WriteString("\r\n")
				line = 0
			}
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	b.WriteString("\r\n")
}

// encodeSubject returns s unchanged when a reader takes it literally, else as
// RFC 2047 Q encoded words of at most 75 characters split on rune boundaries.
// An ASCII subject containing "=?" is encoded too, so that no part of it can be
// read as an encoded word it never was.
func encodeSubject(s string) string {
	if !strings.Contains(s, "=?") && !strings.ContainsFunc(s, func(r rune) bool { return r > '~' }) {
		return s
	}
	const prefix, suffix, maxWord = "=?utf-8?q?", "?=", 75
	var words []string
	var w strings.Builder
	w.WriteString(prefix)
	var buf [utf8.UTFMax]byte
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!*+-/", r)):
			enc = string(r)
		default:
			n := utf8.EncodeRune(buf[:], r)
			for _, c := range buf[:n] {
				enc += fmt.Sprintf("=%02X", c)
			}
		}
		if w.Len()+len(enc)+len(suffix) > maxWord {
			w.WriteString(suffix)
			words = append(words, w.String())
			w.Reset()
			w.WriteString(prefix)
		}
		w.WriteString(enc)
	}
	w.WriteString(suffix)
	return strings.Join(append(words, w.String()), " ")
}
