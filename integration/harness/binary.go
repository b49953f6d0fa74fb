package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// RepoBinary returns the path of <name> in $MAXPROXY_BIN (relative to the
// module root unless absolute), or when that is unset in bin/ there, where `make build` puts maxproxy and
// maxnode (the Makefile sets MAXPROXY_BIN to that directory). A missing
// binary is an error, not a skip: the Makefile builds it before the tests
// run.
func RepoBinary(name string) (string, error) {
	dir := os.Getenv("MAXPROXY_BIN")
	if dir == "" || !filepath.IsAbs(dir) {
		// Relative to the module root, not to the test's package directory.
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		if dir == "" {
			dir = "bin"
		}
		dir = filepath.Join(root, dir)
	}
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("harness: %s not built (run make build): %w", p, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("harness: %s is not an executable", p)
	}
	return p, nil
}

var moduleRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("harness: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("harness: no go.mod above the working directory")
		}
		dir = parent
	}
})

// BinarySpec describes one of this repository's programs to start with a
// configuration file, the way maxnode and maxproxy are run:
// bin/<Binary> -c <config> <Args...>.
type BinarySpec struct {
	// Name names the process, its log and (with ".toml") its config file.
	Name string
	// Binary is the file under bin/, e.g. "maxnode".
	Binary string
	// Config is written to <scope dir>/<Name>.toml; nil means no -c.
	Config []byte
	Args   []string
	Env    []string
}

// StartBinary writes spec's config file and starts the binary. The caller
// waits for readiness (e.g. WaitTCP on the port it configured).
func (s *Scope) StartBinary(spec BinarySpec) (*Process, error) {
	bin, err := RepoBinary(spec.Binary)
	if err != nil {
		return nil, err
	}
	var args []string
	if spec.Config != nil {
		cfg, err := s.WriteFile(spec.Name+".toml", spec.Config)
		if err != nil {
			return nil, err
		}
		args = append(args, "-c", cfg)
	}
	return s.StartProcess(ProcessSpec{
		Name: spec.Name,
		Path: bin,
		Args: append(args, spec.Args...),
		Env:  spec.Env,
		Dir:  s.dir,
	})
}
