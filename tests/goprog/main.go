// goprog: Go's runtime makes its own system calls, past libc. Built twice
// by tests/confine_tests.cc: with cgo (dynamically linked, as Debian
// builds many Go programs) and without (static).
//
//	goprog basic OUT | goprog exec | goprog execmany | goprog signals | goprog sigterm | goprog fifo PATH | goprog cat PATH
//	| goprog ptrace
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
)

func main() {
	switch os.Args[1] {
	case "basic":
		b, err := os.ReadFile("/etc/marker")
		if err != nil {
			fmt.Println("read:", err)
			os.Exit(1)
		}
		fmt.Printf("marker %s", b)
		out := os.Args[2]
		if err := os.WriteFile(out, []byte("written by go\n"), 0644); err != nil {
			fmt.Println("write:", err)
			os.Exit(1)
		}
		if err := os.Chown(out, 123, 456); err != nil {
			fmt.Println("chown:", err)
			os.Exit(1)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(out, &st); err != nil {
			fmt.Println("stat:", err)
			os.Exit(1)
		}
		fmt.Printf("owner %d:%d uid %d\n", st.Uid, st.Gid, os.Getuid())
	case "exec":
		b, err := exec.Command("/bin/cat", "/etc/marker").CombinedOutput()
		fmt.Printf("exec %s %v\n", b, err)
	case "sigterm":
		// What it starts gets the signal mask the program has: a shell
		// that sends itself SIGTERM ends (the trap that made the exec had
		// every signal blocked, which the kernel keeps across exec).
		out, err := exec.Command("/bin/sh", "-c", "kill -TERM $$; echo survived").CombinedOutput()
		fmt.Printf("sigterm %q %v\n", out, err)
	case "execmany":
		// Go's exec is a vfork-like clone whose child execs inside the
		// handler: more of them than the handler has stacks.
		for i := 0; i < 100; i++ {
			if err := exec.Command("/bin/cat", "/dev/null").Run(); err != nil {
				fmt.Println("exec", i, err)
				os.Exit(1)
			}
		}
		b, err := exec.Command("/bin/cat", "/etc/marker").CombinedOutput()
		fmt.Printf("execmany %s %v\n", b, err)
	case "ptrace":
		// A child started traced (delve's way): Go's forkExec waits for its
		// exec's SIGTRAP, which a confined child never gave first.
		c := exec.Command("/bin/true")
		c.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
		err := c.Start()
		fmt.Printf("ptrace start %v\n", err)
		if err == nil {
			var ws syscall.WaitStatus
			syscall.Wait4(c.Process.Pid, &ws, 0, nil)
			syscall.PtraceDetach(c.Process.Pid)
			c.Wait()
		}
	case "cat":
		// Its open of a fifo with no writer waits: a signal must end it.
		b, err := os.ReadFile(os.Args[2])
		fmt.Printf("cat %s %v\n", b, err)
	case "fifo":
		// Both ends of a fifo opened by two goroutines on two threads:
		// each open waits for the other end.
		path := os.Args[2]
		os.Remove(path)
		if err := syscall.Mkfifo(path, 0600); err != nil {
			fmt.Println("mkfifo:", err)
			os.Exit(1)
		}
		done := make(chan error)
		go func() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteString("through the fifo")
				f.Close()
			}
			done <- err
		}()
		b, err := os.ReadFile(path)
		fmt.Printf("fifo %s %v %v\n", b, err, <-done)
	case "signals":
		// Trapped calls on four threads while signals keep arriving (the
		// process's own, and the runtime's preemption and collections):
		// a signal delivered while a trap is served must not land on the
		// handler's own frame.
		ch := make(chan os.Signal, 64)
		signal.Notify(ch, syscall.SIGUSR1)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		failed := make(chan error, 4)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10000; i++ {
					if _, err := os.Stat("/etc/marker"); err != nil {
						failed <- err
						return
					}
					_ = make([]byte, 4096)
				}
			}()
		}
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
					syscall.Kill(os.Getpid(), syscall.SIGUSR1)
					runtime.GC()
				}
			}
		}()
		wg.Wait()
		close(stop)
		select {
		case err := <-failed:
			fmt.Println("signals", err)
		default:
			fmt.Println("signals served")
		}
	}
}
