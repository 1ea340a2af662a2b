// Package watch tells when a config file, or any file of a configuration
// of several, changed on disk, however it was changed: written in place,
// replaced by a rename (editors, config management), swapped through a
// symlink (a Kubernetes ConfigMap volume, where the kubelet retargets a
// "..data" symlink in the file's directory and the file itself is never
// touched), or added to or removed from a config directory.
package watch

import (
	"cmp"
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long the watcher waits after the last event before it
// looks at the file, so a burst of events (an editor's save, the
// kubelet's swap) makes one change.
const settle = 200 * time.Millisecond

// state is what a change is judged by: the files the paths resolve to
// through every symlink, and a digest of their content.
type state struct {
	targets string // the resolved paths, one per line
	sum     [sha256.Size]byte
}

func read(paths []string) (state, []string, error) {
	h := sha256.New()
	var targets []string
	for _, path := range paths {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return state{}, nil, err
		}
		b, err := os.ReadFile(target)
		if err != nil {
			return state{}, nil, err
		}
		targets = append(targets, target)
		sum := sha256.Sum256(b)
		h.Write([]byte(path + "\x00"))
		h.Write(sum[:])
	}
	var st state
	st.targets = strings.Join(targets, "\n")
	copy(st.sum[:], h.Sum(nil))
	return st, targets, nil
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
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return Files(ctx, func() ([]string, []string) { return []string{abs}, []string{filepath.Dir(abs)} }, log, changed)
}

// Files is File for a configuration of several files: list returns the
// files it consists of now and the directories where files that would
// join it appear (a config directory). After any event in those
// directories, or in the directories the files resolve to, once events
// settle, it lists the files again and calls changed when the list, a
// file's target or a file's content differs from what it saw last: a file
// added, removed, edited, renamed over or swapped through a symlink.
// Relative paths are taken from the working directory at each call.
func Files(ctx context.Context, list func() (files, dirs []string), log *slog.Logger, changed func()) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	watched := map[string]bool{}
	// follow watches exactly dirs, the directories of files and of
	// targets (a directory already gone, as the kubelet removes the old
	// one, is dropped quietly).
	follow := func(files, targets, dirs []string) error {
		want := map[string]bool{}
		for _, d := range dirs {
			want[filepath.Clean(d)] = true
		}
		for _, f := range append(files, targets...) {
			want[filepath.Dir(f)] = true
		}
		var first error
		for d := range want {
			if watched[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				log.Warn("config file watch", "dir", d, "error", err)
				first = cmp.Or(first, err)
				continue
			}
			watched[d] = true
		}
		for d := range watched {
			if !want[d] {
				w.Remove(d)
				delete(watched, d)
			}
		}
		return first
	}
	files, dirs := list()
	last, targets, err := read(files)
	if err != nil {
		// Start anyway: the file may appear later.
		log.Warn("config file watch", "error", err)
	}
	if err := follow(files, targets, dirs); err != nil && len(watched) == 0 {
		w.Close()
		return err
	}
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
				files, dirs := list()
				now, targets, err := read(files)
				if err != nil {
					log.Debug("config file watch: not readable now", "error", err)
					follow(files, nil, dirs)
					continue
				}
				follow(files, targets, dirs)
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
