package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The shop's password hashes run in worker processes of its own (bulwark
// hash-worker, started by the shop in this process): their memory and CPU
// are not this process's, so a soak that sampled only /proc/self would miss
// a leak or a cost there. childProc is one child process as /proc tells it.
type childProc struct {
	PID int
	RSS int64         // resident memory, bytes
	CPU time.Duration // user and system time since it started
}

// userHZ is the unit of the times in /proc/<pid>/stat: USER_HZ, fixed at
// 100 in Linux's user-space ABI whatever the kernel's own tick.
const userHZ = 100

// parseProcStat reads a child's id, parent, CPU time and resident pages from
// the text of /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func parseProcStat(text string) (pid, ppid int, cpuTicks, rssPages int64, err error) {
	open, end := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if open < 1 || end < open {
		return 0, 0, 0, 0, errors.New("no (command) in the stat line")
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(text[:open])); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("stat pid: %w", err)
	}
	// After the command: state (3), ppid (4), … utime (14), stime (15), …
	// rss (24). f[0] is field 3.
	f := strings.Fields(text[end+1:])
	if len(f) < 22 {
		return 0, 0, 0, 0, fmt.Errorf("stat line has %d fields after the command, want at least 22", len(f))
	}
	num := func(i int) int64 {
		if err != nil {
			return 0
		}
		var v int64
		v, err = strconv.ParseInt(f[i], 10, 64)
		return v
	}
	pp, ut, st, rss := num(1), num(11), num(12), num(21)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("stat field: %w", err)
	}
	return pid, int(pp), ut + st, rss, nil
}

// childProcesses lists the live processes whose parent is ppid, from the
// stat files under procRoot (/proc). A process that ends while it is read is
// left out.
func childProcesses(procRoot string, ppid int) ([]childProc, error) {
	es, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	page := int64(os.Getpagesize())
	var out []childProc
	for _, e := range es {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue // not a process
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // ended meanwhile
		}
		pid, pp, ticks, rss, err := parseProcStat(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s/%s/stat: %w", procRoot, e.Name(), err)
		}
		if pp == ppid {
			out = append(out, childProc{PID: pid, RSS: rss * page, CPU: time.Duration(ticks) * time.Second / userHZ})
		}
	}
	return out, nil
}

// childCPU follows the CPU time of a process's children from sample to
// sample: a child's time counts from where the last sample left it, or from
// its start if it is new. A child that ended between samples takes its last
// interval's time with it (it is not waited for here).
type childCPU struct{ last map[int]time.Duration }

// interval is the children's CPU time since the previous call.
func (c *childCPU) interval(children []childProc) time.Duration {
	next := make(map[int]time.Duration, len(children))
	var d time.Duration
	for _, ch := range children {
		prev, ok := c.last[ch.PID]
		if !ok || prev > ch.CPU { // new, or a new process under an old id
			prev = 0
		}
		d += ch.CPU - prev
		next[ch.PID] = ch.CPU
	}
	c.last = next
	return d
}
