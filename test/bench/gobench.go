package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// goBenchPackages are the packages whose Go benchmarks the report reads:
// each policy, the whole handler per request kind, and the baseline's
// handler.
var goBenchPackages = []string{"policies", "webhook", "test/bench/handlers"}

// GoBench is one line of `go test -bench` output.
type GoBench struct {
	Name     string // without "Benchmark"
	NsOp     float64
	BOp      float64
	AllocsOp float64
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+)\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ MB/s)?\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

// parseGoBench reads `go test -bench -benchmem` output.
func parseGoBench(out string) []GoBench {
	var res []GoBench
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		b := GoBench{Name: m[1]}
		b.NsOp, _ = strconv.ParseFloat(m[2], 64)
		b.BOp, _ = strconv.ParseFloat(m[3], 64)
		b.AllocsOp, _ = strconv.ParseFloat(m[4], 64)
		res = append(res, b)
	}
	return res
}

// testBinary is where buildGoBenches puts a package's test binary.
func testBinary(dir, pkg string) string {
	return filepath.Join(dir, strings.ReplaceAll(pkg, "/", "-")+".test")
}

// buildGoBenches compiles the benchmark packages' test binaries into dir.
func buildGoBenches(root, dir string) error {
	for _, pkg := range goBenchPackages {
		cmd := exec.Command("go", "test", "-c", "-o", testBinary(dir, pkg), "./"+pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go test -c ./%s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// runGoBenches runs every benchmark of the packages on one core (GOMAXPROCS
// 1, pinned to cpu when cpu >= 0), each for benchtime, and returns them by
// name and the raw output (benchstat reads it).
func runGoBenches(root, dir string, cpu int, benchtime string) (map[string]GoBench, string, error) {
	byName := map[string]GoBench{}
	var raw strings.Builder
	for _, pkg := range goBenchPackages {
		args := []string{testBinary(dir, pkg), "-test.run", "^$", "-test.bench", ".", "-test.benchmem", "-test.cpu", "1", "-test.benchtime", benchtime}
		name := args[0]
		if cpu >= 0 {
			name, args = "taskset", append([]string{"-c", strconv.Itoa(cpu)}, args...)
		}
		cmd := exec.Command(name, args...)
		cmd.Dir = filepath.Join(root, pkg) // tests read files relative to their package
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		raw.Write(out)
		if err != nil {
			return nil, raw.String(), fmt.Errorf("benchmarks of ./%s: %v\n%s", pkg, err, out)
		}
		for _, b := range parseGoBench(string(out)) {
			byName[b.Name] = b
		}
	}
	return byName, raw.String(), nil
}
