//go:build unix

package diskguard

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Statfs reads the filesystem holding path with statfs(2).
func Statfs(path string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Space{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return Space{Free: uint64(st.Bavail) * bs, Total: uint64(st.Blocks) * bs}, nil
}
