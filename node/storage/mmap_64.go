//go:build amd64 || arm64 || ppc64 || ppc64le || s390x || riscv64 || mips64 || mips64le || loong64

package storage

// initialMmapSize is the address space bbolt maps when it opens the data file.
const initialMmapSize = 1 << 30
