module github.com/tally-telemetry/tally-go/examples

go 1.19

require (
	github.com/spf13/cobra v1.6.1
	github.com/tally-telemetry/tally-go v0.1.0
	github.com/tally-telemetry/tally-go/cobratally v0.1.0
)

require (
	github.com/inconshreveable/mousetrap v1.0.1 // indirect
	github.com/spf13/pflag v1.0.5 // indirect
)

replace (
	github.com/tally-telemetry/tally-go => ../
	github.com/tally-telemetry/tally-go/cobratally => ../cobratally
)
