package password

import "syscall"

// lowerThreadPriority raises the calling OS thread's nice value by
// hashNiceSteps (to 19 at most), so that the kernel runs the thread only
// when nothing of the process's own priority wants its CPU. Linux keeps a
// nice value per thread (setpriority with PRIO_PROCESS and a thread id).
// Raising it needs no privilege; lowering it back would, so the caller must
// never hand the thread back to other goroutines. Threads the Go runtime
// starts while a goroutine is locked to this one are cloned from its template
// thread, not from this one, so they do not inherit the value.
func lowerThreadPriority() error {
	nice, err := threadNice()
	if err != nil {
		return err
	}
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), min(nice+hashNiceSteps, 19))
}

// threadNice is the calling OS thread's nice value.
func threadNice() (int, error) {
	// The raw system call returns 20 - nice, so that a successful result is
	// never negative (getpriority(2), "C library/kernel differences").
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	return 20 - prio, err
}
