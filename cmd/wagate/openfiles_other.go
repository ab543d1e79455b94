//go:build !unix

package main

// raiseOpenFilesLimit does nothing where RLIMIT_NOFILE does not exist.
func raiseOpenFilesLimit() (soft, hard uint64, err error) { return 0, 0, nil }
