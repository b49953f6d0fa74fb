// Package fsutil holds the file-system steps maxnode's stores share for durability.
package fsutil

import "os"

// SyncDir fsyncs directory dir, which makes the creation, rename or removal of an entry in it durable:
// syncing the file itself does not.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
