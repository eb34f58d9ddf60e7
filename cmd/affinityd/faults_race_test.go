//go:build race

package main

// raceDetector is true under -race, which slows the pure-Go SQLite about
// thirtyfold: the fault suite's big feed shrinks so the suite stays quick.
const raceDetector = true
