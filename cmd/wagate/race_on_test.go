//go:build race

package main

// raceEnabled: the race detector's shadow memory inflates RSS, so memory tests skip.
const raceEnabled = true
