//go:build !linux

package storage

import "os"

// preallocate is not available here: segments grow as they are written.
func preallocate(*os.File, int64) (bool, error) { return false, nil }

func datasync(f *os.File) error { return f.Sync() }
