// Package wire holds the reply conventions the plugin SDK and its test
// harness share: JSON bodies, and errors as a contracts.Error body with the
// NATS micro error headers (Nats-Service-Error, Nats-Service-Error-Code).
package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/contracts"
)

// maxHeaderText caps an error description copied into a header.
const maxHeaderText = 512

// RespondJSON answers m with v as JSON.
func RespondJSON(m *nats.Msg, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return RespondError(m, contracts.CodeInternalServerError.Errorf("encode reply: %v", err))
	}
	return m.Respond(body)
}

// RespondError answers m with e as a contracts.Error body and the micro
// error headers.
func RespondError(m *nats.Msg, e *contracts.Error) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	reply := nats.NewMsg(m.Reply)
	reply.Data = body
	reply.Header.Set(micro.ErrorHeader, headerText(e.Message))
	reply.Header.Set(micro.ErrorCodeHeader, strconv.Itoa(e.Status))
	return m.RespondMsg(reply)
}

// headerText makes s a single-line header value of bounded length.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxHeaderText {
		s = s[:maxHeaderText]
	}
	return s
}

// Call sends req as JSON to subject and decodes the reply into resp (unless
// nil). An error reply comes back as its *contracts.Error; transport
// failures wrap bus.ErrNoResponders, bus.ErrTimeout or ctx's error.
func Call(ctx context.Context, nc *nats.Conn, subject string, header nats.Header, timeout time.Duration, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	msg, err := bus.Request(ctx, nc, subject, body, header, bus.WithTimeout(timeout))
	if err != nil {
		var se *bus.ServiceError
		if errors.As(err, &se) {
			return ServiceError(se)
		}
		return err
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(msg.Data, resp); err != nil {
		return fmt.Errorf("decode reply from %s: %w", subject, err)
	}
	return nil
}

// ServiceError turns an error reply into the *contracts.Error it carries;
// a reply without one (another client's service) becomes an Error built
// from its headers.
func ServiceError(se *bus.ServiceError) *contracts.Error {
	var e contracts.Error
	if json.Unmarshal(se.Data, &e) == nil && e.Status >= 400 && e.Status <= 599 {
		return &e
	}
	status := se.Status()
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	return &contracts.Error{Status: status, Code: contracts.CodePluginError, Message: se.Description}
}
