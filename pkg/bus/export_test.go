package bus

// Exported for tests in bus_test.
var (
	ReconnectDelay = reconnectDelay
	SanitizeHeader = sanitizeHeader
)
