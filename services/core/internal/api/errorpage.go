package api

import (
	_ "embed"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// errorPageTemplate is better-auth 1.7.25's default error page, captured
// from the real server with markers for the code and the description.
//
//go:embed errorpage.html
var errorPageTemplate string

// safeErrorCode is the pattern a code must match to be shown.
var safeErrorCode = regexp.MustCompile(`^['A-Za-z0-9_-]+$`)

// defaultErrorDescription is shown without ?error_description.
const defaultErrorDescription = `We encountered an unexpected error. Please try again or return to the home page. If you're a developer, you can find <a href='https://better-auth.com/docs/reference/errors/{{CODE_URL}}' target='_blank' rel="noopener noreferrer" style='color: var(--foreground); text-decoration: underline;'>more information about the error</a>.`

// sanitizeHTML is better-auth's sanitize(): <, >, ", ' escaped, and & unless
// it already starts an entity.
var entityStart = regexp.MustCompile(`^(amp;|lt;|gt;|quot;|#39;|#x[0-9a-fA-F]+;|#[0-9]+;)`)

func sanitizeHTML(s string) string {
	s = strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '&' && !entityStart.MatchString(s[i+1:]) {
			b.WriteString("&amp;")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// renderErrorPage fills the template: code is already safe (safeErrorCode),
// description already sanitised or "".
func renderErrorPage(code, description string) string {
	if description == "" {
		description = defaultErrorDescription
	}
	// encodeURIComponent leaves every character of a safe code as it is.
	return strings.NewReplacer(
		"{{DESCRIPTION}}", strings.ReplaceAll(description, "{{CODE_URL}}", code),
		"{{CODE_HTML}}", sanitizeHTML(code),
		"{{CODE_URL}}", code,
	).Replace(errorPageTemplate)
}

// errorPage is GET /error (contract §1.12).
func (h *Handler) errorPage(c *call) error {
	code := str(c.query, "error")
	if l, ok := c.query["error"].([]string); ok {
		code = l[0]
	}
	desc := str(c.query, "error_description")
	if l, ok := c.query["error_description"].([]string); ok {
		desc = l[0]
	}
	if code == "" || !safeErrorCode.MatchString(code) {
		code = "UNKNOWN"
	}
	if h.opts.ErrorURL != "" {
		params := url.Values{"error": {code}}
		if desc != "" {
			params.Set("error_description", desc)
		}
		c.rp.redirect(appendQueryValues(h.opts.ErrorURL, params))
		c.rp.ctype = ""
		return nil
	}
	safeDesc := ""
	if desc != "" {
		safeDesc = sanitizeHTML(desc)
	}
	c.rp.status, c.rp.ctype, c.rp.body = http.StatusOK, "text/html", []byte(renderErrorPage(code, safeDesc))
	return nil
}

// appendQueryValues adds params to ref's query.
func appendQueryValues(ref string, params url.Values) string {
	u, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}
