//go:build !unix

package diskguard

import "errors"

// Statfs is not implemented on this system: every reading fails, so the guard never
// turns low (and says why in its log).
func Statfs(path string) (Space, error) {
	return Space{}, errors.New("diskguard: free space cannot be read on this system")
}
