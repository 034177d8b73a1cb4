package app

import (
	"encoding/json"
	"flag"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/inventory"
)

// version prints the build's version, commit and Go version; with --json
// the modules compiled in too.
func version(args []string, env Env) error {
	fs := flag.NewFlagSet("bulwark version", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	asJSON := fs.Bool("json", false, "print the version and every module compiled in as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	in, err := inventory.Read()
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(env.Stdout, "bulwark %s\n", in.Short())
		return nil
	}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\n", b)
	return nil
}

// sbom prints the build's CycloneDX software bill of materials.
func sbom(args []string, env Env) error {
	fs := flag.NewFlagSet("bulwark sbom", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	in, err := inventory.Read()
	if err != nil {
		return err
	}
	b, err := inventory.SBOM(in, env.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\n", b)
	return nil
}
