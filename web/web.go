// Package web holds the files of Bulwark's pages, embedded in the binary: the
// HTML templates of the storefront and the console, and the static assets
// (one stylesheet, the scripts). Package pages serves them. A shop changes its
// look without forking by pointing the web-theme-dir setting at a folder whose
// files of the same names replace these (docs/OPERATIONS.md, "Theming").
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates static
var files embed.FS

// Templates are the page templates (*.html), named as pages.Site loads them.
func Templates() fs.FS { return sub("templates") }

// Static are the assets served under /assets/.
func Static() fs.FS { return sub("static") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return f
}
