// Package contracts is the shared vocabulary of authbus: the event catalog and
// its CloudEvents envelope, the hook points with their payloads, the plugin
// manifest, and the one catalog of stable error codes.
//
// It imports only the standard library so that every service, the plugin SDK
// and outside consumers can depend on it without pulling in anything else.
package contracts
