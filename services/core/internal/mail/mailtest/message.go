package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
)

// Message is one message the server accepted, parsed.
type Message struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients (RCPT TO).
	To []string
	// TLS tells whether the message arrived over TLS.
	TLS bool
	// AuthUser is the user the client authenticated as, if any.
	AuthUser string
	// Raw is the message as received, dot-unstuffed, with CRLF line endings.
	Raw []byte
	// Header is the parsed header.
	Header mail.Header
	// Subject is the decoded subject (RFC 2047 words decoded).
	Subject string
	// Text is the decoded text/plain body with LF line endings; "" if none.
	Text string
	// HTML is the decoded text/html body with LF line endings; "" if none.
	HTML string
	// ContentType is the top-level media type, e.g. "multipart/alternative".
	ContentType string
	// Err is why the message could not be parsed; WaitFor fails the test on it.
	Err error
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

// Links returns every http(s) URL in the text body, else in the HTML body, in order.
func (m *Message) Links() []string {
	body := m.Text
	if body == "" {
		body = m.HTML
	}
	links := linkPattern.FindAllString(body, -1)
	if m.Text == "" {
		for i, l := range links {
			links[i] = strings.ReplaceAll(l, "&amp;", "&")
		}
	}
	return links
}

// Link returns the first link of the message (see Links); "" if there is none.
func (m *Message) Link() string {
	if l := m.Links(); len(l) > 0 {
		return l[0]
	}
	return ""
}

// parseMessage fills the parsed fields of m from m.Raw.
func parseMessage(m *Message) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		m.Err = fmt.Errorf("mailtest: parse header: %w", err)
		return
	}
	m.Header = msg.Header
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		m.Err = fmt.Errorf("mailtest: decode subject: %w", err)
		return
	}
	m.ContentType = "text/plain"
	if ct := msg.Header.Get("Content-Type"); ct != "" {
		if m.ContentType, _, err = mime.ParseMediaType(ct); err != nil {
			m.Err = fmt.Errorf("mailtest: content type: %w", err)
			return
		}
	}
	m.Err = m.readEntity(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
}

// readEntity stores a text/plain or text/html body, or walks a multipart one.
func (m *Message) readEntity(contentType, encoding string, body io.Reader) error {
	mediaType, params := "text/plain", map[string]string{}
	if contentType != "" {
		var err error
		if mediaType, params, err = mime.ParseMediaType(contentType); err != nil {
			return fmt.Errorf("mailtest: content type %q: %w", contentType, err)
		}
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// Raw parts: decoding is done below for every encoding alike.
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailtest: multipart: %w", err)
			}
			if err := m.readEntity(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "", "7bit", "8bit", "binary":
	default:
		return fmt.Errorf("mailtest: unknown transfer encoding %q", encoding)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("mailtest: %s body: %w", mediaType, err)
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mediaType {
	case "text/plain":
		if m.Text == "" {
			m.Text = text
		}
	case "text/html":
		if m.HTML == "" {
			m.HTML = text
		}
	}
	return nil
}
