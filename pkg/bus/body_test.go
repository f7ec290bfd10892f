package bus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/authbus/authbus/pkg/bus"
	"github.com/authbus/authbus/pkg/bus/bustest"
	"github.com/authbus/authbus/pkg/contracts"
)

func TestStreamedBody(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunJetStream(t)
	sizes := []int{0, 1, 1000, 4096, 4097, 3*4096 + 17}
	for _, size := range sizes {
		body := make([]byte, size)
		_, _ = rand.Read(body)
		subject := "gateway.test." + contracts.NewUUIDv7() + ".req"
		sender, err := bus.NewBodySender(nc, subject, bytes.NewReader(body), 4096, time.Second)
		require.NoError(t, err)
		served := make(chan error, 1)
		go func() { served <- sender.Serve(context.Background()) }()

		got, err := io.ReadAll(bus.NewBodyReader(context.Background(), nc, subject, time.Second))
		require.NoError(t, err, "size %d", size)
		require.Equal(t, body, got, "size %d", size)
		require.NoError(t, <-served)
	}
}

func TestStreamedBodySenderFails(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunJetStream(t)
	subject := "gateway.test.fail.res"
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(make([]byte, 5000)), errReader{boom})
	sender, err := bus.NewBodySender(nc, subject, r, 4096, time.Second)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- sender.Serve(context.Background()) }()

	_, err = io.ReadAll(bus.NewBodyReader(context.Background(), nc, subject, time.Second))
	require.ErrorIs(t, err, bus.ErrBodyAborted)
	require.ErrorContains(t, err, "disk on fire")
	require.ErrorIs(t, <-served, boom)
}

func TestStreamedBodyResendsALostChunk(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunJetStream(t)
	subject := "gateway.test.resend.req"
	body := bytes.Repeat([]byte("abcdefgh"), 1000)
	sender, err := bus.NewBodySender(nc, subject, bytes.NewReader(body), 4096, time.Second)
	require.NoError(t, err)
	go func() { _ = sender.Serve(context.Background()) }()

	ask := func(i string) *nats.Msg {
		h := nats.Header{}
		h.Set(bus.HeaderChunk, i)
		msg, err := bus.Request(context.Background(), nc, subject, nil, h)
		require.NoError(t, err)
		return msg
	}
	first := ask("0")
	again := ask("0") // the receiver lost the answer and asks again
	require.Equal(t, first.Data, again.Data)
	require.Equal(t, body[:4096], first.Data)
	second := ask("1")
	require.Equal(t, body[4096:], second.Data)
	require.Equal(t, "1", second.Header.Get(contracts.HeaderEOF))
}

func TestStreamedBodyRejectsASkippedChunk(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunJetStream(t)
	subject := "gateway.test.skip.req"
	sender, err := bus.NewBodySender(nc, subject, bytes.NewReader(make([]byte, 10000)), 4096, time.Second)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- sender.Serve(context.Background()) }()

	h := nats.Header{}
	h.Set(bus.HeaderChunk, "2")
	msg, err := bus.Request(context.Background(), nc, subject, nil, h)
	require.NoError(t, err)
	require.NotEmpty(t, msg.Header.Get(contracts.HeaderError))
	require.Error(t, <-served)
}

func TestStreamedBodySenderGivesUpWhenIdle(t *testing.T) {
	t.Parallel()
	_, nc := bustest.RunJetStream(t)
	sender, err := bus.NewBodySender(nc, "gateway.test.idle.req", bytes.NewReader([]byte("x")), 0, 50*time.Millisecond)
	require.NoError(t, err)
	require.ErrorIs(t, sender.Serve(context.Background()), context.DeadlineExceeded)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
