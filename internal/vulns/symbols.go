package vulns

import (
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
)

// BinarySymbols reads the functions compiled into the Go executable at
// path (an ELF file: the shop's own binary) from its symbol table, the
// .gopclntab every Go binary carries (also when stripped of its DWARF),
// and the platform it was built for from its build information (a flaw
// of path/filepath on Windows is not one of a Linux binary; without build
// information every platform's flaws count).
func BinarySymbols(path string) (*Symbols, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the symbols of %s: %w", path, err)
	}
	defer f.Close()
	pcln := f.Section(".gopclntab")
	text := f.Section(".text")
	if pcln == nil || text == nil {
		return nil, fmt.Errorf("read the symbols of %s: %w", path, errors.New("no Go symbol table"))
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, fmt.Errorf("read the symbols of %s: %w", path, err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, fmt.Errorf("read the symbols of %s: %w", path, err)
	}
	names := make([]string, 0, len(tab.Funcs))
	for _, fn := range tab.Funcs {
		names = append(names, fn.Name)
	}
	syms := NewSymbols(names)
	if bi, err := buildinfo.ReadFile(path); err == nil {
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "GOOS":
				syms.goos = kv.Value
			case "GOARCH":
				syms.goarch = kv.Value
			}
		}
	}
	return syms, nil
}
