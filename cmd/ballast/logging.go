package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// This file is the server's log: etcd's (zap's) shape from log/slog. --log-format json
// writes one JSON object a line with zap's keys (level, ts, caller, msg, then the fields);
// console writes zap's console line (ts, level, caller, msg tab-separated, the fields as a
// JSON object). --log-outputs names where: default and stderr (the same), stdout, or file
// paths (appended to, created 0600 as zap's sink does); several outputs get every line.
// --enable-log-rotation rotates the one file output with lumberjack, as etcd does, set by
// --log-rotation-config-json (lumberjack's JSON keys: maxsize in MB, maxage in days,
// maxbackups, localtime, compress).

// The values of --log-format and --log-outputs etcd takes.
const (
	logFormatJSON    = "json"
	logFormatConsole = "console"
	logOutputDefault = "default"
	logOutputStderr  = "stderr"
	logOutputStdout  = "stdout"
	logOutputJournal = "systemd/journal"
)

// zapTimeLayout is etcd's log timestamp (logutil.DefaultZapLoggerConfig), in UTC.
const zapTimeLayout = "2006-01-02T15:04:05.000000Z0700"

// logOptions are --log-outputs and --log-format, checked, and the rotation of the file
// output (nil: none).
type logOptions struct {
	outputs  []string
	format   string
	rotation *lumberjack.Logger
}

// defaultLogRotationConfig is etcd's --log-rotation-config-json default.
const defaultLogRotationConfig = `{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}`

// errLogRotationInvalidLogOutput is etcd's ErrLogRotationInvalidLogOutput.
var errLogRotationInvalidLogOutput = errors.New("--log-outputs requires a single file path when --log-rotate-config-json is defined")

// parseLogRotation is etcd's setupLogRotation: rotation needs exactly one file among the
// outputs (or several outputs none of which is a file, which etcd lets pass and rotates
// nothing), and a config JSON that decodes into lumberjack's settings.
func parseLogRotation(outputs []string, configJSON string) (*lumberjack.Logger, error) {
	files := 0
	for _, o := range outputs {
		switch o {
		case logOutputDefault, logOutputStderr, logOutputStdout:
		default:
			files++
		}
	}
	if (len(outputs) == 1 && files == 0) || files > 1 {
		return nil, errLogRotationInvalidLogOutput
	}
	var cfg struct{ *lumberjack.Logger }
	if err := json.Unmarshal([]byte(configJSON), &cfg); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &syntaxErr):
			return nil, fmt.Errorf("improperly formatted log rotation config: %w", err)
		case errors.As(err, &typeErr):
			return nil, fmt.Errorf("invalid log rotation config: %w", err)
		default:
			return nil, fmt.Errorf("fail to unmarshal log rotation config: %w", err)
		}
	}
	if cfg.Logger == nil { // "null" or "{}"
		cfg.Logger = &lumberjack.Logger{}
	}
	return cfg.Logger, nil
}

// parseLogOptions checks them as etcd's setupLogging does, with its messages.
func parseLogOptions(outputs []string, format string, rotate bool, rotationJSON string) (logOptions, error) {
	switch format {
	case logFormatJSON, logFormatConsole:
	case "":
		format = logFormatJSON
	default:
		return logOptions{}, fmt.Errorf("unknown log format: %s, supported values json, console", format)
	}
	if len(outputs) == 0 {
		outputs = []string{logOutputDefault}
	}
	if len(outputs) > 1 && slices.Contains(outputs, logOutputDefault) {
		return logOptions{}, fmt.Errorf("multi logoutput for %q is not supported yet", logOutputDefault)
	}
	if slices.Contains(outputs, logOutputJournal) {
		return logOptions{}, fmt.Errorf("flag --log-outputs is not supported yet: %s: logging to journald comes with %s (stderr reaches the journal under systemd)", logOutputJournal, issueOperations)
	}
	o := logOptions{outputs: outputs, format: format}
	if rotate {
		r, err := parseLogRotation(outputs, rotationJSON)
		if err != nil {
			return logOptions{}, err
		}
		o.rotation = r
	}
	return o, nil
}

// openLogOutputs opens the writers o names; close closes the files among them.
func openLogOutputs(o logOptions, stdout, stderr io.Writer) (w io.Writer, closeFiles func(), err error) {
	var ws []io.Writer
	var files []io.Closer
	closeFiles = func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	seen := map[string]bool{}
	for _, out := range o.outputs {
		if out == logOutputDefault {
			out = logOutputStderr
		}
		if seen[out] {
			continue
		}
		seen[out] = true
		switch out {
		case logOutputStderr:
			ws = append(ws, stderr)
		case logOutputStdout:
			ws = append(ws, stdout)
		default:
			if o.rotation != nil {
				r := &lumberjack.Logger{Filename: out, MaxSize: o.rotation.MaxSize, MaxAge: o.rotation.MaxAge,
					MaxBackups: o.rotation.MaxBackups, LocalTime: o.rotation.LocalTime, Compress: o.rotation.Compress}
				files = append(files, r)
				ws = append(ws, r)
				continue
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				closeFiles()
				return nil, nil, fmt.Errorf("--log-outputs %s: %w", out, err)
			}
			files = append(files, f)
			ws = append(ws, f)
		}
	}
	if len(ws) == 1 {
		return &lockedWriter{w: ws[0]}, closeFiles, nil
	}
	return &lockedWriter{w: io.MultiWriter(ws...)}, closeFiles, nil
}

// lockedWriter writes each line whole when several loggers share an output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// newLogger writes to w in format with etcd's (zap's) keys and values: level (lower case,
// panic and fatal as "fatal"), ts (UTC, microseconds), caller (dir/file.go:line), msg.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, AddSource: true, ReplaceAttr: zapAttr}
	if format == logFormatConsole {
		return slog.New(&consoleHandler{w: w, opts: opts})
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// zapAttr renames and reformats slog's built-in attributes as zap writes them.
func zapAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		a.Key = "ts"
		if t, ok := a.Value.Any().(time.Time); ok {
			a.Value = slog.StringValue(t.UTC().Format(zapTimeLayout))
		}
	case slog.LevelKey:
		a.Value = slog.StringValue(zapLevel(a.Value.Any()))
	case slog.SourceKey:
		a.Key = "caller"
		if src, ok := a.Value.Any().(*slog.Source); ok {
			a.Value = slog.StringValue(shortCaller(src.File, src.Line))
		}
	}
	return a
}

func zapLevel(v any) string {
	lv, _ := v.(slog.Level)
	if lv >= levelFatal {
		return "fatal"
	}
	return strings.ToLower(lv.String())
}

// shortCaller is zap's ShortCallerEncoder: the file's directory and name, and the line.
func shortCaller(file string, line int) string {
	return fmt.Sprintf("%s/%s:%d", filepath.Base(filepath.Dir(file)), filepath.Base(file), line)
}

// consoleHandler is zap's console encoder: ts, level, caller and msg separated by tabs,
// then the fields as one JSON object.
type consoleHandler struct {
	w     io.Writer
	opts  *slog.HandlerOptions
	attrs []slog.Attr
	group string
}

func (h *consoleHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.opts.Level.Level()
}

func (h *consoleHandler) Handle(_ context.Context, r slog.Record) error {
	var fields bytes.Buffer
	jh := slog.NewJSONHandler(&fields, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}})
	var withAttrs slog.Handler = jh.WithAttrs(h.attrs)
	if h.group != "" {
		withAttrs = withAttrs.WithGroup(h.group)
	}
	fr := slog.NewRecord(r.Time, r.Level, r.Message, 0)
	r.Attrs(func(a slog.Attr) bool { fr.AddAttrs(a); return true })
	if err := withAttrs.Handle(context.Background(), fr); err != nil {
		return err
	}
	caller := ""
	if src := r.Source(); src != nil {
		caller = shortCaller(src.File, src.Line)
	}
	line := fmt.Sprintf("%s\t%s\t%s\t%s", r.Time.UTC().Format(zapTimeLayout), zapLevel(r.Level), caller, r.Message)
	if f := bytes.TrimSpace(fields.Bytes()); string(f) != "{}" {
		line += "\t" + string(f)
	}
	_, err := io.WriteString(h.w, line+"\n")
	return err
}

func (h *consoleHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), attrs...)
	return &c
}

func (h *consoleHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.group = name
	return &c
}
