//go:build windows

package tally

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs") }
