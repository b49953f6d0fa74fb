package storage

import (
	"errors"
	"os"
	"syscall"
)

// preallocate allocates f's blocks up to size (extending its size); ok is false where the filesystem cannot.
func preallocate(f *os.File, size int64) (ok bool, err error) {
	err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return false, nil
	}
	return err == nil, err
}

// datasync flushes f's data and the metadata needed to read it back (fdatasync).
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
