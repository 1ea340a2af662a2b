// Package watch tells when a config file changed on disk, however it was
// changed: written in place, replaced by a rename (editors, config
// management), or swapped through a symlink (a Kubernetes ConfigMap
// volume, where the kubelet retargets a "..data" symlink in the file's
// directory and the file itself is never touched).
package watch

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long the watcher waits after the last event before it
// looks at the file, so a burst of events (an editor's save, the
// kubelet's swap) makes one change.
const settle = 200 * time.Millisecond

// state is what a change is judged by: the file the path resolves to
// through every symlink, and a digest of its content.
type state struct {
	target string
	sum    [sha256.Size]byte
}

func read(path string) (state, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return state{}, err
	}
	b, err := os.ReadFile(target)
	if err != nil {
		return state{}, err
	}
	return state{target: target, sum: sha256.Sum256(b)}, nil
}

// File calls changed each time the file at path resolves to another file
// or its content changes, until ctx ends. It watches the directory of
// path (where renames and symlink swaps happen) and the directory of the
// file path currently resolves to (where in-place edits of a symlinked
// file happen); after any event in either, once events settle, it
// resolves path again and compares target and content with what it saw
// last. Saving identical content, or touching another file in the
// directory, calls nothing. A path that does not resolve for a moment (a
// file being replaced) is looked at again on the next event. log may be
// nil. File returns once the watch is set up.
func File(ctx context.Context, path string, log *slog.Logger, changed func()) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	dir := filepath.Dir(abs)
	if err := w.Add(dir); err != nil {
		w.Close()
		return err
	}
	last, err := read(abs)
	if err != nil {
		// Start anyway: the file may appear later.
		log.Warn("config file watch", "error", err)
	}
	// targetDir is the second directory watched, "" when it is dir.
	targetDir := ""
	follow := func(target string) {
		d := filepath.Dir(target)
		if target == "" || d == dir || d == targetDir {
			return
		}
		if targetDir != "" {
			w.Remove(targetDir) // gone already when the kubelet removed it
		}
		targetDir = ""
		if err := w.Add(d); err != nil {
			log.Warn("config file watch", "dir", d, "error", err)
			return
		}
		targetDir = d
	}
	follow(last.target)
	go func() {
		defer w.Close()
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				timer.Reset(settle)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("config file watch", "error", err)
			case <-timer.C:
				now, err := read(abs)
				if err != nil {
					log.Debug("config file watch: not readable now", "error", err)
					continue
				}
				follow(now.target)
				if now == last {
					continue
				}
				last = now
				changed()
			}
		}
	}()
	return nil
}
