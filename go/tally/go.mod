module github.com/tally-telemetry/tally-go

go 1.19
