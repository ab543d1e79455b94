//go:build unix

package main

import "syscall"

// raiseOpenFilesLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// both as they are afterwards.
func raiseOpenFilesLimit() (soft, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, err
	}
	if r.Cur < r.Max {
		want := r
		want.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return uint64(r.Cur), uint64(r.Max), err
		}
		r = want
	}
	return uint64(r.Cur), uint64(r.Max), nil
}
