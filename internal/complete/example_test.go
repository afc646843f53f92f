package complete_test

import (
	"fmt"

	"github.com/ipctoolkit/ipc/internal/complete"
	"github.com/urfave/cli/v2"
)

// What a shell gets for "prog sem <TAB>", "prog sem create --<TAB>" and
// "prog bench --cpu <TAB>": words from the definitions, nothing run.
func ExampleApp_Words() {
	ran := false
	app := complete.App{Commands: []*cli.Command{
		{Name: "sem", Subcommands: []*cli.Command{
			{Name: "create", Flags: []cli.Flag{&cli.StringFlag{Name: "key"}, &cli.IntFlag{Name: "nsems"}},
				Action: func(*cli.Context) error { ran = true; return nil }},
			{Name: "rm", UsageText: "prog sem rm ID..."},
		}},
		{Name: "bench", UsageText: "prog bench [sem|msgq|all] [--cpu same|cross]",
			Flags: []cli.Flag{&cli.StringFlag{Name: "cpu"}}},
	}}
	fmt.Println(app.Words("prog", []string{"sem", ""}))
	fmt.Println(app.Words("prog", []string{"sem", "create", "--"}))
	fmt.Println(app.Words("prog", []string{"bench", ""}))
	fmt.Println(app.Words("prog", []string{"bench", "--cpu", ""}))
	fmt.Println(app.Words("ipcmk", []string{"--q"}), ran)
	// Output:
	// [create rm]
	// [--key --nsems --help]
	// [sem msgq all]
	// [same cross]
	// [--queue] false
}
