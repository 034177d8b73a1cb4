package bench

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses of its own: the fields
	// are counted from the last ')'.
	line := "4242 (hash (worker) 1) S 17 4242 17 0 -1 4194560 900 0 0 0 250 130 0 0 30 10 1 0 12345 30000000 2304 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	pid, ppid, ticks, rss, err := parseProcStat(line)
	if err != nil || pid != 4242 || ppid != 17 || ticks != 380 || rss != 2304 {
		t.Fatalf("parseProcStat = pid %d, ppid %d, %d ticks, %d pages, %v; want 4242, 17, 380, 2304", pid, ppid, ticks, rss, err)
	}
	for name, text := range map[string]string{
		"empty":           "",
		"no command":      "4242 S 17 4242",
		"too few fields":  "4242 (x) S 17 4242 17 0",
		"a word for pid":  "many (x) S 17 4242 17 0 -1 4194560 900 0 0 0 250 130 0 0 30 10 1 0 12345 30000000 2304",
		"a word for time": "4242 (x) S 17 4242 17 0 -1 4194560 900 0 0 0 lots 130 0 0 30 10 1 0 12345 30000000 2304",
	} {
		if _, _, _, _, err := parseProcStat(text); err == nil {
			t.Errorf("%s: parseProcStat(%q) gave no error", name, text)
		}
	}
}

// TestChildProcessesFindsAChild starts a child that spends some CPU and then
// waits, and finds it among this process's children with its memory and its
// time.
func TestChildProcessesFindsAChild(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here:", err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	// About 0.1 s of CPU or more, then a wait to be sampled in.
	cmd := exec.Command(sh, "-c", `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec sleep 30`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var cpu childCPU
	deadline := time.Now().Add(20 * time.Second)
	for {
		kids, err := childProcesses("/proc", os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		var found *childProc
		for i := range kids {
			if kids[i].PID == cmd.Process.Pid {
				found = &kids[i]
			}
		}
		if found == nil {
			t.Fatalf("child %d not among the children %+v", cmd.Process.Pid, kids)
		}
		// The first interval is taken only once the child has spent its
		// time, so it must count all of it.
		if found.RSS > 0 && found.CPU >= 50*time.Millisecond {
			if d := cpu.interval(kids); d < found.CPU {
				t.Fatalf("the first interval counted %s of the children's time, want at least the child's %s", d, found.CPU)
			}
			if again := cpu.interval(kids); again != 0 {
				t.Fatalf("the same sample again counted %s, want 0", again)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %+v: want resident memory and 50 ms of CPU or more", *found)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestChildCPUCountsEachChildFromItsLastSample(t *testing.T) {
	var c childCPU
	if d := c.interval([]childProc{{PID: 1, CPU: time.Second}, {PID: 2, CPU: 2 * time.Second}}); d != 3*time.Second {
		t.Fatalf("first sample: %s, want 3s (new children count from their start)", d)
	}
	// Child 1 went on, child 2 ended, child 3 is new, and 4 is a new
	// process under the id of one that had more time: counted from 0.
	c.last[4] = time.Hour
	if d := c.interval([]childProc{{PID: 1, CPU: 1500 * time.Millisecond}, {PID: 3, CPU: time.Second}, {PID: 4, CPU: time.Second}}); d != 2500*time.Millisecond {
		t.Fatalf("second sample: %s, want 2.5s", d)
	}
	if _, ok := c.last[2]; ok {
		t.Fatal("an ended child is still followed")
	}
}
