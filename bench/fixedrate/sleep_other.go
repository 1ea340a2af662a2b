//go:build !linux

package fixedrate

import "time"

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
