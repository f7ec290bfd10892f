package sqlite

import (
	"fmt"
	"strconv"
	"time"
)

// timeLayout is JavaScript's Date.toISOString(): fixed width, so text order is time order.
const timeLayout = "2006-01-02T15:04:05.000Z"

// encodeTime is how a time is stored: ISO 8601 UTC with milliseconds.
func encodeTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format(timeLayout)
}

// encodeTimePtr stores nil as NULL.
func encodeTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return encodeTime(*t)
}

// readLayouts are the text forms accepted when reading: ours (and
// better-auth's), RFC 3339 with any fraction or offset, and SQLite's
// datetime() form.
var readLayouts = []string{
	timeLayout,
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// parseTime reads a stored time in any accepted form.
func parseTime(src any) (time.Time, error) {
	var t time.Time
	switch v := src.(type) {
	case time.Time:
		t = v
	case string:
		return parseTimeText(v)
	case []byte:
		return parseTimeText(string(v))
	case int64:
		t = time.UnixMilli(v)
	default:
		return time.Time{}, fmt.Errorf("store: cannot read %T as a time", src)
	}
	return t.UTC().Truncate(time.Millisecond), nil
}

func parseTimeText(s string) (time.Time, error) {
	if t, ok := parseISOMillis(s); ok {
		return t, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, layout := range readLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Millisecond), nil
		}
	}
	return time.Time{}, fmt.Errorf("store: cannot read %q as a time", s)
}

// parseISOMillis reads timeLayout, the form written here and by
// better-auth, without time.Parse's generality (this is on every row read).
func parseISOMillis(s string) (time.Time, bool) {
	if len(s) != len(timeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
		s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				ok = false
				return 0
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec, milli := num(11, 13), num(14, 16), num(17, 19), num(20, 23)
	if !ok || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, milli*int(time.Millisecond), time.UTC), true
}

// timeCol scans a NOT NULL date column.
type timeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	if src == nil {
		return fmt.Errorf("store: unexpected NULL time")
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.t = t
	return nil
}

// nullTimeCol scans a nullable date column.
type nullTimeCol struct{ t **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	t, err := parseTime(src)
	if err != nil {
		return err
	}
	*c.t = &t
	return nil
}
