package contracts

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCodeErr(t *testing.T) {
	codes := Codes()
	require.True(t, slices.IsSorted(codes))
	require.Len(t, codes, len(catalog))
	for _, c := range codes {
		t.Run(string(c), func(t *testing.T) {
			e := c.Err()
			require.Equal(t, c, e.Code)
			require.NotEmpty(t, e.Message)
			require.GreaterOrEqual(t, e.Status, 400)
			require.LessOrEqual(t, e.Status, 599)
			require.True(t, c.Known())
			require.Regexp(t, `^[A-Z][A-Z0-9_]*$`, string(c), "codes are UPPER_SNAKE")
			require.NotSame(t, e, c.Err(), "each call returns a new error")
		})
	}
}

func TestCodeUnknown(t *testing.T) {
	c := Code("NO_SUCH_CODE")
	require.False(t, c.Known())
	e := c.Err()
	require.Equal(t, http.StatusInternalServerError, e.Status)
	require.Equal(t, c, e.Code)
	require.Equal(t, "NO_SUCH_CODE", e.Message)
}

func TestError(t *testing.T) {
	e := CodeRateLimited.Errorf("retry in %ds", 30)
	require.Equal(t, &Error{Status: 429, Code: CodeRateLimited, Message: "retry in 30s"}, e)
	require.Equal(t, "429 RATE_LIMITED: retry in 30s", e.Error())
	require.Equal(t, "400: bad", (&Error{Status: 400, Message: "bad"}).Error())

	wrapped := fmt.Errorf("sign in: %w", e)
	require.ErrorIs(t, wrapped, CodeRateLimited.Err(), "errors.Is compares codes")
	require.NotErrorIs(t, wrapped, CodeForbidden.Err())
	require.ErrorIs(t, &Error{Status: 400, Message: "bad"}, &Error{Status: 401, Message: "bad"}, "message-only errors compare messages")
	require.NotErrorIs(t, &Error{Status: 400, Message: "bad"}, &Error{Status: 400, Message: "worse"})

	changed := e.WithMessage("later").WithStatus(503)
	require.Equal(t, "retry in 30s", e.Message, "With* copy")
	require.Equal(t, &Error{Status: 503, Code: CodeRateLimited, Message: "later"}, changed)

	require.Nil(t, AsError(nil))
	require.Same(t, e, AsError(wrapped))
	internal := AsError(errors.New("pq: password authentication failed"))
	require.Equal(t, CodeInternalServerError.Err(), internal, "other errors never leak their text")
}
