package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// plainFile writes dir/gantry.yaml and returns its path.
func plainFile(t *testing.T, dir string) string {
	p := filepath.Join(dir, "gantry.yaml")
	write(t, p, "v1")
	return p
}

// configMap lays dir out as a Kubernetes ConfigMap volume does and
// returns the config's path: dir/gantry.yaml -> ..data/gantry.yaml,
// dir/..data -> ..2026_1, dir/..2026_1/gantry.yaml.
func configMap(t *testing.T, dir string) string {
	write(t, filepath.Join(dir, "..2026_1", "gantry.yaml"), "v1")
	symlink(t, "..2026_1", filepath.Join(dir, "..data"))
	symlink(t, filepath.Join("..data", "gantry.yaml"), filepath.Join(dir, "gantry.yaml"))
	return filepath.Join(dir, "gantry.yaml")
}

// swap retargets dir/..data atomically, as the kubelet does: a new
// timestamped directory, a temporary symlink renamed over ..data, the
// old directory removed.
func swap(t *testing.T, dir, name, content string) {
	t.Helper()
	old, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, name, "gantry.yaml"), content)
	symlink(t, name, filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
}

func TestFile(t *testing.T) {
	tests := []struct {
		name   string
		layout func(t *testing.T, dir string) string // returns the config path
		change func(t *testing.T, dir, path string)
		want   int // calls of changed
	}{
		{
			name:   "in-place write",
			layout: plainFile,
			change: func(t *testing.T, dir, path string) { write(t, path, "v2") },
			want:   1,
		},
		{
			name:   "rename over the file",
			layout: plainFile,
			change: func(t *testing.T, dir, path string) {
				write(t, path+".tmp", "v2")
				if err := os.Rename(path+".tmp", path); err != nil {
					t.Fatal(err)
				}
			},
			want: 1,
		},
		{
			name:   "same content saved again",
			layout: plainFile,
			change: func(t *testing.T, dir, path string) { write(t, path, "v1") },
			want:   0,
		},
		{
			name:   "another file in the directory",
			layout: plainFile,
			change: func(t *testing.T, dir, path string) { write(t, filepath.Join(dir, "other.yaml"), "x") },
			want:   0,
		},
		{
			name:   "removed, then back with new content",
			layout: plainFile,
			change: func(t *testing.T, dir, path string) {
				os.Remove(path)
				time.Sleep(3 * settle)
				write(t, path, "v2")
			},
			want: 1,
		},
		{
			name:   "ConfigMap symlink swap",
			layout: configMap,
			change: func(t *testing.T, dir, path string) { swap(t, dir, "..2026_2", "v2") },
			want:   1,
		},
		{
			name:   "ConfigMap swapped twice",
			layout: configMap,
			change: func(t *testing.T, dir, path string) {
				swap(t, dir, "..2026_2", "v2")
				time.Sleep(3 * settle)
				swap(t, dir, "..2026_3", "v3")
			},
			want: 2,
		},
		{
			name:   "ConfigMap swap to identical content",
			layout: configMap,
			change: func(t *testing.T, dir, path string) { swap(t, dir, "..2026_2", "v1") },
			want:   1, // another file: the target changed
		},
		{
			name: "symlinked file edited in place in its own directory",
			layout: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "real", "gantry.yaml"), "v1")
				write(t, filepath.Join(dir, "conf", "README"), "")
				symlink(t, filepath.Join(dir, "real", "gantry.yaml"), filepath.Join(dir, "conf", "gantry.yaml"))
				return filepath.Join(dir, "conf", "gantry.yaml")
			},
			change: func(t *testing.T, dir, path string) { write(t, filepath.Join(dir, "real", "gantry.yaml"), "v2") },
			want:   1,
		},
		{
			name: "symlink retargeted",
			layout: func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "a.yaml"), "v1")
				write(t, filepath.Join(dir, "b.yaml"), "v2")
				symlink(t, "a.yaml", filepath.Join(dir, "gantry.yaml"))
				return filepath.Join(dir, "gantry.yaml")
			},
			change: func(t *testing.T, dir, path string) {
				symlink(t, "b.yaml", filepath.Join(dir, "tmp"))
				if err := os.Rename(filepath.Join(dir, "tmp"), path); err != nil {
					t.Fatal(err)
				}
			},
			want: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.layout(t, dir)
			calls := make(chan struct{}, 10)
			if err := File(t.Context(), path, nil, func() { calls <- struct{}{} }); err != nil {
				t.Fatal(err)
			}
			tt.change(t, dir, path)
			deadline := time.After(5 * settle)
			got := 0
		wait:
			for {
				select {
				case <-calls:
					got++
				case <-deadline:
					break wait
				}
			}
			if got != tt.want {
				t.Fatalf("changed called %d times, want %d", got, tt.want)
			}
		})
	}
}

// yamlIn lists dir's *.yaml files, as a config directory's list does.
func yamlIn(dir string) func() ([]string, []string) {
	return func() ([]string, []string) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		return files, []string{dir}
	}
}

func TestFiles(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   int
	}{
		{name: "file added", change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "c.yaml"), "c") }, want: 1},
		{name: "file removed", change: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "b.yaml")) }, want: 1},
		{name: "file edited", change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "a.yaml"), "a2") }, want: 1},
		{name: "file saved unchanged", change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "a.yaml"), "a") }, want: 0},
		{name: "file of another kind added", change: func(t *testing.T, dir string) { write(t, filepath.Join(dir, "notes.txt"), "n") }, want: 0},
		{name: "file in an empty subdirectory edited", change: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "sub", "x.yaml"), "x")
		}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "a.yaml"), "a")
			write(t, filepath.Join(dir, "b.yaml"), "b")
			calls := make(chan struct{}, 10)
			if err := Files(t.Context(), yamlIn(dir), nil, func() { calls <- struct{}{} }); err != nil {
				t.Fatal(err)
			}
			tt.change(t, dir)
			deadline := time.After(5 * settle)
			got := 0
		wait:
			for {
				select {
				case <-calls:
					got++
				case <-deadline:
					break wait
				}
			}
			if got != tt.want {
				t.Fatalf("changed called %d times, want %d", got, tt.want)
			}
		})
	}
}

// A config directory on a Kubernetes ConfigMap volume: every file a
// symlink into ..data; the kubelet's swap brings a changed file and a new
// one.
func TestFilesConfigMapDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "..2026_1", "a.yaml"), "a")
	write(t, filepath.Join(dir, "..2026_1", "b.yaml"), "b")
	symlink(t, "..2026_1", filepath.Join(dir, "..data"))
	for _, f := range []string{"a.yaml", "b.yaml"} {
		symlink(t, filepath.Join("..data", f), filepath.Join(dir, f))
	}
	calls := make(chan struct{}, 10)
	if err := Files(t.Context(), yamlIn(dir), nil, func() { calls <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "..2026_2", "a.yaml"), "a2")
	write(t, filepath.Join(dir, "..2026_2", "b.yaml"), "b")
	write(t, filepath.Join(dir, "..2026_2", "c.yaml"), "c")
	symlink(t, "..2026_2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	symlink(t, filepath.Join("..data", "c.yaml"), filepath.Join(dir, "c.yaml"))
	if err := os.RemoveAll(filepath.Join(dir, "..2026_1")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
	case <-time.After(5 * settle):
		t.Fatal("the swap was not seen")
	}
	files, _ := yamlIn(dir)()
	if len(files) != 3 {
		t.Fatalf("files after the swap = %v", files)
	}
}
