// Command gen writes the benchmark corpus (test/bench/corpus/reviews/) from
// corpus.Generate. Run it from the repository's top folder after changing
// the generator: go run ./test/bench/corpus/gen
package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/flux-infra/platform-webhook/test/bench/corpus"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	files, err := corpus.Generate()
	if err != nil {
		return err
	}
	dir := filepath.Join("test", "bench", "corpus", corpus.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, keep := files[filepath.Base(f)]; !keep {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
		fmt.Printf("%s %6d bytes\n", filepath.Join(dir, name), len(files[name]))
	}
	return nil
}
