package server

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/maxproxy/maxproxy/config"
)

// NewLogger builds the process logger from [log]: level, text or JSON, to
// the configured file (appended, created 0640) or to stderr. level, when
// not nil, is set to log.level and becomes the handler's level, so that a
// reload (Options.LogLevel) can change it. The returned close function
// releases the file.
func NewLogger(c config.Log, level *slog.LevelVar, stderr io.Writer) (*slog.Logger, func() error, error) {
	w, closeFn := stderr, func() error { return nil }
	if c.File != "" {
		f, err := os.OpenFile(c.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("open log file: %w", err)
		}
		w, closeFn = f, f.Close
	}
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if level != nil {
		level.Set(c.SlogLevel())
		opts.Level = level
	}
	var h slog.Handler
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h), closeFn, nil
}
