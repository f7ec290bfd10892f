package main

import (
	"os"
	"testing"

	"github.com/authbus/authbus/internal/pgtest"
)

// TestMain stops the throwaway Postgres cluster pgtest may start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
